import { fileURLToPath } from 'node:url';
import { createToken } from '@tributary/broker';
import type { StreamEngine } from '@tributary/engine';
import { connectWs, type Frame } from '@tributary/testkit';
import { describe, expect, it } from 'vitest';
import type { TributaryNode } from '../src/node.js';
import { nodeTestKit } from './helpers.js';

// Lineage end to end over the first-party pipeline: a device reading on sensors.<d> → sensor-average
// → averages.<d> → temperature-alert → alerts.temperature. What a user notices: where an alert came
// from (its message frame, history and `GET /v1/trace`), only as far as their grants reach, and the
// device's W3C trace context carried along.

const SECRET = 'lineage-test-secret-0123456789abcdef';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const folder = (name: string): string => fileURLToPath(new URL(`../../../blocks/${name}`, import.meta.url));

const kit = nodeTestKit('lin');
const { engines } = kit;

async function pipeline(make: () => StreamEngine): Promise<TributaryNode> {
  const node = await kit.node(make, SECRET);
  for (const name of ['sensor-average', 'temperature-alert']) {
    const p = await node.blocks.prepareFolder(folder(name));
    await node.blocks.deploy(p.compiled, p.config);
  }
  return node;
}

async function client(node: TributaryNode, token: string): Promise<Awaited<ReturnType<typeof connectWs>>> {
  const ws = await connectWs(`${node.broker.url.replace(/^http/, 'ws')}/v1/ws?token=${encodeURIComponent(token)}`);
  kit.cleanup(() => ws.close());
  return ws;
}

async function get(node: TributaryNode, path: string, token: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${node.broker.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

for (const [kind, make] of Object.entries(engines)) {
  describe(`lineage on the ${kind} engine`, () => {
    it('an alert carries its parent and block version to readers of the parent channel only, and traces back to the device', async () => {
      const node = await pipeline(make);
      const versions = Object.fromEntries(node.blocks.runner.list().map((b) => [b.name, b.version]));
      // An operator (the secret), a reader of alerts that may also read the averages, and one that may not.
      const admin = await client(node, SECRET);
      const both = await client(
        node,
        await createToken({ secret: SECRET, grants: { 'alerts.temperature': ['subscribe'], 'averages.*': ['history'] } }),
      );
      const alertsOnly = await client(
        node,
        await createToken({ secret: SECRET, grants: { 'alerts.temperature': ['subscribe', 'history'] } }),
      );
      for (const ws of [admin, both, alertsOnly]) {
        expect(await ws.request({ type: 'subscribe', channel: 'alerts.temperature' })).toMatchObject({ type: 'subscribed' });
      }
      const device = await client(node, await createToken({ secret: SECRET, grants: { 'sensors.d1': ['publish'] } }));
      const ack = await device.request({ type: 'publish', channel: 'sensors.d1', data: { celsius: 45 }, traceparent: TRACEPARENT });
      expect(ack).toMatchObject({ type: 'ack', offset: 1 });

      const isAlert = (f: Frame): boolean => f.type === 'message' && f.channel === 'alerts.temperature';
      const [a, b, c] = await Promise.all([admin, both, alertsOnly].map((ws) => ws.next(isAlert, 15_000)));
      const lineage = { channel: 'averages.d1', offset: 1, block: 'temperature-alert', version: versions['temperature-alert'] };
      expect(a).toMatchObject({ data: { device: 'd1', celsius: 45 }, lineage, traceparent: TRACEPARENT });
      expect(typeof (a?.lineage as { epoch?: unknown }).epoch).toBe('string');
      expect(b).toMatchObject({ lineage, traceparent: TRACEPARENT });
      // No read grant on averages.d1: the alert arrives, its lineage does not (the trace context does).
      expect(c).toMatchObject({ data: { device: 'd1', celsius: 45 }, traceparent: TRACEPARENT });
      expect(c).not.toHaveProperty('lineage');

      // History, over WebSocket and HTTP, follows the same rule.
      const h = await alertsOnly.request({ type: 'history', channel: 'alerts.temperature' });
      expect((h.messages as Array<Record<string, unknown>>)[0]).not.toHaveProperty('lineage');
      const http = await get(node, '/v1/channels/averages.d1/messages', SECRET);
      expect((http.body.messages as Array<Record<string, unknown>>)[0]).toMatchObject({
        lineage: { channel: 'sensors.d1', offset: 1, block: 'sensor-average', version: versions['sensor-average'] },
      });

      // The trace walks back to the device's reading, each step with the block version that produced it.
      const trace = await get(node, '/v1/trace/alerts.temperature/1', SECRET);
      expect(trace.status).toBe(200);
      const steps = trace.body.steps as Array<Record<string, unknown>>;
      expect(steps.map((s) => [s.channel, s.offset, s.block, s.version])).toEqual([
        ['alerts.temperature', 1, 'temperature-alert', versions['temperature-alert']],
        ['averages.d1', 1, 'sensor-average', versions['sensor-average']],
        ['sensors.d1', 1, undefined, undefined],
      ]);
      expect(steps[2]).toMatchObject({ data: { celsius: 45 }, traceparent: TRACEPARENT });
      for (const s of steps.slice(0, 2)) expect(s.spentMs).toBeGreaterThanOrEqual(0);
      expect(trace.body).not.toHaveProperty('truncated');

      // A client's trace stops where its grants do.
      const tokenBoth = await createToken({ secret: SECRET, grants: { 'alerts.temperature': ['subscribe'], 'averages.*': ['history'] } });
      const partial = await get(node, '/v1/trace/alerts.temperature/1', tokenBoth);
      expect((partial.body.steps as unknown[]).length).toBe(2);
      expect(partial.body.truncated).toBe(true);
      const none = await get(
        node,
        '/v1/trace/averages.d1/1',
        await createToken({ secret: SECRET, grants: { 'alerts.temperature': ['subscribe'] } }),
      );
      expect(none.status).toBe(403);
      expect((await get(node, '/v1/trace/alerts.temperature/99', SECRET)).status).toBe(404);
    });
  });
}
