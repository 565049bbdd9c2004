import { fileURLToPath } from 'node:url';
import { MemoryEngine } from '@tributary/engine';
import { connectWs, eventually, type Frame, type TestSocket } from '@tributary/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { startNode, type TributaryNode } from '@tributary/node';

// The repo's blocks/ folder, loaded as `tributary start --blocks blocks` would.
const BLOCKS_DIR = fileURLToPath(new URL('../..', import.meta.url));

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function node(): Promise<{ node: TributaryNode; engine: MemoryEngine }> {
  const engine = new MemoryEngine();
  cleanups.push(() => engine.close());
  const n = await startNode({ engine, auth: { insecure: true }, port: 0, blockDirs: [BLOCKS_DIR] });
  cleanups.push(() => n.close());
  return { node: n, engine };
}

async function socket(n: TributaryNode): Promise<TestSocket> {
  const s = await connectWs(n.broker.wsUrl);
  cleanups.push(() => s.close());
  return s;
}

/** Sends a request and fails with the frame when the reply is not `type`. */
async function ok(s: TestSocket, frame: object, type: string): Promise<Frame> {
  const reply = await s.request(frame);
  expect(reply, JSON.stringify(reply)).toMatchObject({ type });
  return reply;
}

async function history<T>(s: TestSocket, channel: string): Promise<T[]> {
  const reply = await ok(s, { type: 'history', channel, limit: 1000 }, 'history');
  return (reply.messages as Array<{ data: T }>).map((m) => m.data);
}

/** Waits until an after-publish block ran `n` times and has nothing unacked. */
function drained(n: TributaryNode, engine: MemoryEngine, block: string, invocations: number): Promise<true> {
  return eventually(
    async () => {
      const info = n.blocks.runner.list().find((b) => b.name === block);
      if (info === undefined || info.stats.invocations < invocations) return false;
      return (await engine.groups?.pending(`block.${block}`)) === 0;
    },
    { message: `${block} drained ${invocations}`, timeoutMs: 10_000 },
  );
}

describe('pipeline: sensors → sensor-average → temperature-alert, and chat moderation, over WebSockets', () => {
  it('loads the blocks of the repo', async () => {
    const { node: n } = await node();
    // Other block folders may sit beside these three; the pipeline needs these.
    expect(n.blocks.runner.list().map((b) => [b.name, b.trigger.kind])).toEqual(
      expect.arrayContaining([
        ['chat-moderation', 'beforePublish'],
        ['sensor-average', 'afterPublish'],
        ['temperature-alert', 'afterPublish'],
      ]),
    );
  });

  it('turns readings into averages and raises one alert when the average crosses the threshold', async () => {
    const { node: n, engine } = await node();
    const dashboard = await socket(n);
    await ok(dashboard, { type: 'subscribe', channel: 'alerts.temperature' }, 'subscribed');
    const device = await socket(n);
    // The average goes 20, 24, 32.67 (above 30: alert), 34.5 (still above: no second alert).
    const readings = [20, 28, 50, 40];
    for (const celsius of readings) await ok(device, { type: 'publish', channel: 'sensors.d1', data: { celsius } }, 'ack');

    const alert = await dashboard.next((f) => f.type === 'message' && f.channel === 'alerts.temperature', 10_000);
    await drained(n, engine, 'sensor-average', readings.length);
    await drained(n, engine, 'temperature-alert', readings.length);

    const averages = await history<{ device: string; celsius: number; count: number }>(dashboard, 'averages.d1');
    expect(averages).toHaveLength(readings.length);
    // Readings that straddle a minute boundary split into two windows; the first average above the
    // threshold is the alert's either way (and 32.67 when, as usual, they share one window).
    const crossing = averages.find((a) => a.celsius > 30);
    expect(alert.data).toEqual({ device: 'd1', celsius: crossing?.celsius, threshold: 30, time: expect.any(Number) });
    if (averages.at(-1)?.count === readings.length) expect(crossing?.celsius).toBe(32.67);
    expect(await history(dashboard, 'alerts.temperature')).toEqual([alert.data]);
    expect(dashboard.frames.filter((f) => f.type === 'message')).toHaveLength(1);
  });

  it('masks banned words before storing and rejects blocked messages without storing them', async () => {
    const { node: n } = await node();
    const reader = await socket(n);
    await ok(reader, { type: 'subscribe', channel: 'chat.lobby' }, 'subscribed');
    const chatter = await socket(n);

    await ok(chatter, { type: 'publish', channel: 'chat.lobby', data: { text: 'Well DAMN, hello', user: 'ann' } }, 'ack');
    const seen = await reader.next((f) => f.type === 'message' && f.channel === 'chat.lobby', 10_000);
    expect(seen.data).toEqual({ text: 'Well ****, hello', user: 'ann' });

    const blocked = await chatter.request({ type: 'publish', channel: 'chat.lobby', data: { text: 'free-crypto for all', user: 'bob' } });
    expect(blocked).toMatchObject({
      type: 'error',
      code: 'REJECTED',
      message: 'blocks: chat-moderation: message contains a blocked word ("free-crypto")',
    });
    const notText = await chatter.request({ type: 'publish', channel: 'chat.lobby', data: { text: 42 } });
    expect(notText).toMatchObject({ type: 'error', code: 'REJECTED', message: expect.stringContaining('text must be a string') });

    expect(await history(chatter, 'chat.lobby')).toEqual([{ text: 'Well ****, hello', user: 'ann' }]);
    expect(reader.frames.filter((f) => f.type === 'message')).toHaveLength(1);
  });
});
