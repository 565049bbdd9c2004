import { RedisEngine } from '@tributary/engine';
import { startRedis, type RedisServer } from '@tributary/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { kvNumber, startAdminNode, type AdminNode } from './admin-node.js';
import { echoStillWorks, eventually, payloads } from './helpers.js';

/**
 * The loops through system channels of hostile-loops.test.ts, on Redis: log lines and dead letters
 * carry hops on Redis Streams too, and a delete destroys the block's stream group with its backlog.
 * Deploys go through the admin API on a BlockNode over a real redis-server, a fresh key prefix per
 * test.
 */
let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

const open: AdminNode[] = [];
afterEach(async () => {
  for (const n of open.splice(0)) await n.close();
});

async function adminNode(): Promise<AdminNode> {
  const n = await startAdminNode(new RedisEngine({ url: redis.url, keyPrefix: `l${Math.random().toString(36).slice(2, 8)}:` }));
  open.push(n);
  return n;
}

describe('hostile blocks on Redis: loops through system channels', () => {
  it('ends a loop of two blocks through each other\'s log lines at the hop limit', async () => {
    const { engine, deploy } = await adminNode();
    expect((await deploy('echo.ts')).status).toBe(201);
    expect((await deploy('hostile/loop-logs-a.ts')).status).toBe(201);
    expect((await deploy('hostile/loop-logs-b.ts')).status).toBe(201);
    await engine.append({ channel: 'loop-logs.start', payload: '{}' });
    await eventually(async () => (await kvNumber(engine, 'hostile-loop-logs-a', 'runs')) === 5 &&
      (await kvNumber(engine, 'hostile-loop-logs-b', 'runs')) === 4, 10_000);
    const lines = [...await payloads(engine, '$logs.hostile-loop-logs-a'), ...await payloads(engine, '$logs.hostile-loop-logs-b')];
    expect(lines.map((l) => (l as { fields: { hops: number } }).fields.hops).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const stored = (await engine.read('$logs.hostile-loop-logs-b', { after: 0, limit: 10 })).entries;
    expect(stored.map((e) => e.hops)).toEqual([2, 4, 6, 8]);
    for (let i = 0; i < 3; i++) await echoStillWorks(engine);
    expect(await kvNumber(engine, 'hostile-loop-logs-a', 'runs')).toBe(5);
    expect(await kvNumber(engine, 'hostile-loop-logs-b', 'runs')).toBe(4);
  });

  it('ends a loop of two blocks through each other\'s dead letters at the hop limit', async () => {
    const { engine, deploy } = await adminNode();
    expect((await deploy('echo.ts')).status).toBe(201);
    expect((await deploy('hostile/loop-dlq-a.ts')).status).toBe(201);
    expect((await deploy('hostile/loop-dlq-b.ts')).status).toBe(201);
    await engine.append({ channel: 'loop-dlq.start', payload: '{}' });
    await eventually(async () => (await kvNumber(engine, 'hostile-loop-dlq-a', 'runs')) === 5 &&
      (await kvNumber(engine, 'hostile-loop-dlq-b', 'runs')) === 4, 10_000);
    const dead = [...await payloads(engine, '$dlq.hostile-loop-dlq-a'), ...await payloads(engine, '$dlq.hostile-loop-dlq-b')];
    expect(dead.map((d) => (d as { hops?: number }).hops ?? 0).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const entries = (await engine.read('$dlq.hostile-loop-dlq-b', { after: 0, limit: 10 })).entries;
    expect(entries.map((e) => e.hops)).toEqual([2, 4, 6, 8]);
    for (let i = 0; i < 3; i++) await echoStillWorks(engine);
    expect(await kvNumber(engine, 'hostile-loop-dlq-a', 'runs')).toBe(5);
    expect(await kvNumber(engine, 'hostile-loop-dlq-b', 'runs')).toBe(4);
  });

  it('stops a deleted block at once: its stream group goes with the backlog, and a redeploy starts a new one', async () => {
    const { engine, deploy, remove, node } = await adminNode();
    expect((await deploy('hang.ts')).status).toBe(201);
    for (let i = 0; i < 20; i++) await engine.append({ channel: 'hang.in', payload: JSON.stringify({ i }) });
    await eventually(async () => (await kvNumber(engine, 'hang', 'started')) === 1);
    expect(await remove('hang')).toBe(200);
    expect(node.runner.list()).toEqual([]);
    expect(await engine.groups.pending('block.hang')).toBe(0);
    expect((await deploy('hang.ts')).status).toBe(201);
    await engine.append({ channel: 'hang.in', payload: JSON.stringify({ fresh: true }) });
    await eventually(async () => (await kvNumber(engine, 'hang', 'started')) === 2);
    expect(await engine.groups.pending('block.hang')).toBe(1);
    // The one message the new group handed out is the fresh one, not the deleted group's backlog.
    const held = await engine.groups.claim('block.hang', 'probe', 0, 10);
    expect(held.map((e) => JSON.parse(e.payload) as unknown)).toEqual([{ fresh: true }]);
  });
});
