import { fileURLToPath } from 'node:url';
import { MemoryEngine } from '@tributary/engine';
import { TributaryClient } from '@tributary/client';
import { afterEach, describe, expect, it } from 'vitest';
import { startNode, type TributaryNode } from '@tributary/node';
import { eventually } from '@tributary/testkit';
import { startDashboard } from '../src/dashboard.js';
import { runDevices, type Transport } from '../src/devices.js';

// The repo's blocks/ folder: what `pnpm start` loads.
const REPO_BLOCKS = fileURLToPath(new URL('../../../blocks', import.meta.url));

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** Waits until an after-publish block handled at least `n` messages and has nothing unacked. */
function drained(node: TributaryNode, engine: MemoryEngine, block: string, n: number): Promise<true> {
  return eventually(
    async () => {
      const info = node.blocks.runner.list().find((b) => b.name === block);
      if (info === undefined || info.stats.invocations < n) return false;
      return (await engine.groups?.pending(`block.${block}`)) === 0;
    },
    { message: `${block} drained ${n}`, timeoutMs: 20_000 },
  );
}

describe('iot-sensors against a node running the repo blocks (sensor-average → temperature-alert)', () => {
  it('devices publish over WebSocket and HTTP; the dashboard gets an alert for the hot device only', async () => {
    const engine = new MemoryEngine();
    cleanups.push(() => engine.close());
    const node = await startNode({ engine, auth: { insecure: true }, port: 0, blockDirs: [REPO_BLOCKS] });
    cleanups.push(() => node.close());
    const url = node.broker.url;

    const dashboard = await startDashboard({ url, onAlert: () => {} });
    cleanups.push(() => dashboard.close());

    const devices = ['d1', 'd2', 'd3', 'd4'];
    const readings = 6;
    const seen = new Map<string, Set<Transport>>();
    const run = runDevices({
      url,
      devices,
      hot: 'd2', // d2 publishes over HTTP (every second device does)
      intervalMs: 5,
      readings,
      onReading: (r, t) => void seen.set(r.device, (seen.get(r.device) ?? new Set()).add(t)),
    });
    cleanups.push(() => run.stop());
    await run.done;
    expect(Object.fromEntries([...seen].map(([d, t]) => [d, [...t]]))).toEqual({ d1: ['ws'], d2: ['http'], d3: ['ws'], d4: ['http'] });

    // Every reading became an average, and every average went through temperature-alert.
    const total = devices.length * readings;
    await drained(node, engine, 'sensor-average', total);
    await drained(node, engine, 'temperature-alert', total);

    const reader = new TributaryClient({ url });
    cleanups.push(() => reader.close());
    await reader.connect();
    for (const d of devices) expect((await reader.history(`averages.${d}`)).messages).toHaveLength(readings);
    const stored = (await reader.history('alerts.temperature')).messages.map((m) => m.data);
    expect(stored).toEqual([expect.objectContaining({ device: 'd2', threshold: 30 })]);

    // The dashboard printed exactly that alert.
    await eventually(() => dashboard.alerts.length >= 1, { message: 'the alert on the dashboard', timeoutMs: 20_000 });
    expect(dashboard.alerts).toEqual(stored);
    expect(dashboard.alerts[0]?.celsius).toBeGreaterThan(30);
  });
});
