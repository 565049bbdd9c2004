import { fileURLToPath } from 'node:url';
import { createToken } from '@tributary/broker';
import { MemoryEngine, type StreamEngine } from '@tributary/engine';
import { RedisEngine } from '@tributary/engine/redis';
import { compileSource, type TopologyEdge, type TopologySnapshot } from '@tributary/runtime';
import { eventually, startRedis, type RedisServer } from '@tributary/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TributaryNode } from '../src/node.js';
import { FAILING_BLOCK } from './console/fixtures.js';
import { call, SECRET } from './console/helpers.js';

const BLOCKS = fileURLToPath(new URL('../../../blocks/', import.meta.url));

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

const engines: Array<[string, () => StreamEngine]> = [
  ['memory', () => new MemoryEngine()],
  ['Redis', () => new RedisEngine({ url: redis.url, keyPrefix: `topo${Math.random().toString(36).slice(2, 8)}:` })],
];

// GET /v1/admin/topology (docs/OPERATIONS.md, Topology) over the first-party pipeline:
// sensors.* → sensor-average → averages.<device> → temperature-alert → alerts.temperature.
describe.each(engines)('GET /v1/admin/topology on the %s engine', (_name, makeEngine) => {
  let engine: StreamEngine;
  let node: TributaryNode;
  let url: string;
  beforeAll(async () => {
    engine = makeEngine();
    node = await startNode({ engine, auth: { secret: SECRET }, port: 0, host: '127.0.0.1' });
    await node.blocks.deployFolder(`${BLOCKS}sensor-average`);
    await node.blocks.deployFolder(`${BLOCKS}temperature-alert`);
    url = node.broker.url;
  });
  afterAll(async () => {
    await node?.close();
    await engine?.close();
  });

  const edge = (t: TopologySnapshot, kind: TopologyEdge['kind'], from: string, to: string): TopologyEdge | undefined =>
    t.edges.find((e) => e.kind === kind && e.from === from && e.to === to);

  it('is for the broker secret only', async () => {
    expect((await call(url, 'GET', '/v1/admin/topology')).status).toBe(401);
    const user = await createToken({ secret: SECRET, grants: { '>': ['publish', 'subscribe', 'history'] } });
    const r = await call(url, 'GET', '/v1/admin/topology', { token: user });
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('FORBIDDEN');
  });

  it('draws the pipeline from declarations before any traffic', async () => {
    const t = (await call(url, 'GET', '/v1/admin/topology', { token: SECRET })).body as TopologySnapshot;
    expect(t.windowMs).toBe(10_000);
    expect(t.nodes.find((n) => n.id === 'block:sensor-average')).toMatchObject({
      kind: 'block',
      trigger: { kind: 'afterPublish', patterns: ['sensors.*'] },
      publishes: ['averages.*'],
    });
    expect(edge(t, 'trigger', 'pattern:sensors.*', 'block:sensor-average')).toBeDefined();
    // The grant of one block is the trigger of the next: the same node joins them.
    expect(edge(t, 'grant', 'block:sensor-average', 'pattern:averages.*')).toBeDefined();
    expect(edge(t, 'trigger', 'pattern:averages.*', 'block:temperature-alert')).toBeDefined();
    expect(edge(t, 'grant', 'block:temperature-alert', 'channel:alerts.temperature')).toBeDefined();
  });

  it('shows what flowed: edges with non-zero rates, the channels written, and the lag worked off', async () => {
    // Five devices, each hot once: temperature-alert alerts once per crossing per device.
    for (let i = 0; i < 5; i++) {
      const r = await call(url, 'POST', `/v1/channels/sensors.room${i}/messages`, { token: SECRET, body: { data: { celsius: 40 } } });
      expect(r.status).toBe(201);
    }
    // The alert is the end of the pipeline: once it is stored, every edge before it carried traffic.
    await eventually(
      async () => (await call(url, 'GET', '/v1/channels/alerts.temperature/messages', { token: SECRET })).body.messages?.length >= 5,
      {
        timeoutMs: 15_000,
        message: 'five alerts',
      },
    );
    let t!: TopologySnapshot;
    await eventually(
      async () => {
        t = (await call(url, 'GET', '/v1/admin/topology', { token: SECRET })).body as TopologySnapshot;
        const lag = edge(t, 'trigger', 'pattern:averages.*', 'block:temperature-alert')?.lag;
        return lag?.pending === 0 && lag.unread === 0;
      },
      { timeoutMs: 10_000, message: () => `the alert block's lag to reach 0: ${JSON.stringify(t?.edges)}` },
    );
    const rates: Array<[TopologyEdge['kind'], string, string]> = [
      ['trigger', 'pattern:sensors.*', 'block:sensor-average'],
      ['writes', 'block:sensor-average', 'channel:averages.room0'],
      ['matches', 'channel:averages.room0', 'pattern:averages.*'],
      ['trigger', 'pattern:averages.*', 'block:temperature-alert'],
      ['writes', 'block:temperature-alert', 'channel:alerts.temperature'],
    ];
    for (const [kind, from, to] of rates) {
      const e = edge(t, kind, from, to);
      expect(e, `${kind} ${from} → ${to}`).toBeDefined();
      expect(e?.messagesPerSecond, `${kind} ${from} → ${to}`).toBeGreaterThan(0);
      expect(e?.errorsPerSecond).toBe(0);
    }
    // A channel actually written replaces the grant edge it falls under.
    expect(edge(t, 'grant', 'block:temperature-alert', 'channel:alerts.temperature')).toBeUndefined();
    expect(t.nodes.find((n) => n.id === 'block:temperature-alert')).toMatchObject({ lag: { pending: 0, unread: 0 } });
    const block = t.nodes.find((n) => n.id === 'block:sensor-average');
    expect(block?.kind === 'block' && block.messagesPerSecond).toBeGreaterThan(0);
  });

  it('shows a failing block: errors per second on its trigger, and the message pending while it retries', async () => {
    // `flaky` (afterPublish orders.*) always throws: each attempt is an error, the message stays
    // pending between retries until it is dead-lettered (5 attempts, about 2 s).
    await node.blocks.deploy(await compileSource(FAILING_BLOCK), {});
    const sent = Date.now();
    await call(url, 'POST', '/v1/channels/orders.o-1/messages', { token: SECRET, body: { data: { sku: 'A-1' } } });
    let t!: TopologySnapshot;
    await eventually(
      async () => {
        t = (await call(url, 'GET', '/v1/admin/topology', { token: SECRET })).body as TopologySnapshot;
        const e = edge(t, 'trigger', 'pattern:orders.*', 'block:flaky');
        return e !== undefined && e.errorsPerSecond > 0 && e.lag?.pending === 1;
      },
      { timeoutMs: 10_000, message: () => `flaky's trigger edge to show errors and a pending message: ${JSON.stringify(t?.edges)}` },
    );
    const lag = edge(t, 'trigger', 'pattern:orders.*', 'block:flaky')?.lag;
    expect(lag?.unread).toBe(0);
    // The oldest pending message is the one sent: as old as the time since, give or take the clock's grain.
    expect(lag?.oldestAgeMs).toBeGreaterThanOrEqual(0);
    expect(lag?.oldestAgeMs).toBeLessThanOrEqual(Date.now() - sent + 1000);
    await node.blocks.remove('flaky');
  });
});
