import { MemoryEngine } from '@tributary/engine';
import { afterEach, describe, expect, it } from 'vitest';
import { BlockError, compileBlock } from '../src/index.js';
import { kvNumber, startAdminNode, type AdminNode } from './admin-node.js';
import { deployFixture, echoStillWorks, eventually, fixture, payloads, runner } from './helpers.js';

/**
 * Loops through the channels the platform writes ($logs.<block>, $dlq.<block>), the hop limit as a
 * block sees it, and before-publish blocks on system channels. Deploys go through the real path:
 * the admin API's POST /v1/admin/blocks with the fixture's source, on a BlockNode over a memory
 * engine, which answers a refused block with a typed 4xx.
 */
const open: AdminNode[] = [];
afterEach(async () => {
  for (const n of open.splice(0)) await n.close();
});

async function adminNode(): Promise<AdminNode> {
  const n = await startAdminNode(new MemoryEngine());
  open.push(n);
  return n;
}

describe('hostile blocks: loops through system channels', () => {
  it('refuses at deploy a block triggered by its own $logs or $dlq channel (422 INVALID_BLOCK)', async () => {
    const { deploy, node } = await adminNode();
    for (const name of ['hostile/logs-self.ts', 'hostile/dlq-self.ts']) {
      const { status, body } = await deploy(name);
      expect(status, name).toBe(422);
      expect(body.error?.code, name).toBe('INVALID_BLOCK');
      expect(body.error?.message, name).toMatch(/own (log|dead-letter) channel/);
    }
    expect(node.runner.list()).toEqual([]);
    // Folder deploys (and `prepare`, which registers groups before a node listens) refuse it too.
    await expect(node.runner.prepare(await compileBlock(fixture('hostile/logs-self.ts')))).rejects.toMatchObject({ code: 'INVALID_BLOCK' });
  });

  it('ends a loop of two blocks through each other\'s log lines at the hop limit', async () => {
    const { engine, deploy } = await adminNode();
    expect((await deploy('echo.ts')).status).toBe(201);
    expect((await deploy('hostile/loop-logs-a.ts')).status).toBe(201);
    expect((await deploy('hostile/loop-logs-b.ts')).status).toBe(201);
    await engine.append({ channel: 'loop-logs.start', payload: '{}' });
    // Hops 0 … 8: a runs at 0, 2, 4, 6, 8 and b at 1, 3, 5, 7; the line written at hop 8 would be
    // hop 9, which the hop limit refuses.
    await eventually(async () => (await kvNumber(engine, 'hostile-loop-logs-a', 'runs')) === 5 &&
      (await kvNumber(engine, 'hostile-loop-logs-b', 'runs')) === 4);
    const lines = [...await payloads(engine, '$logs.hostile-loop-logs-a'), ...await payloads(engine, '$logs.hostile-loop-logs-b')];
    expect(lines.map((l) => (l as { fields: { hops: number } }).fields.hops).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // Several round trips of another block later, the loop has not gone on.
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
      (await kvNumber(engine, 'hostile-loop-dlq-b', 'runs')) === 4);
    // Each dead letter carries the failed invocation's hops + 1 (its `hops` field keeps the hops of
    // the message that failed, for a replay).
    const dead = [...await payloads(engine, '$dlq.hostile-loop-dlq-a'), ...await payloads(engine, '$dlq.hostile-loop-dlq-b')];
    expect(dead.map((d) => (d as { hops?: number }).hops ?? 0).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const entries = (await engine.read('$dlq.hostile-loop-dlq-b', { after: 0, limit: 10 })).entries;
    expect(entries.map((e) => e.hops)).toEqual([2, 4, 6, 8]);
    for (let i = 0; i < 3; i++) await echoStillWorks(engine);
    expect(await kvNumber(engine, 'hostile-loop-dlq-a', 'runs')).toBe(5);
    expect(await kvNumber(engine, 'hostile-loop-dlq-b', 'runs')).toBe(4);
  });

  it('stops a deleted block at once: an invocation in flight is cut off and its backlog is never handled', async () => {
    const { engine, deploy, remove, node } = await adminNode();
    expect((await deploy('hang.ts')).status).toBe(201);
    for (let i = 0; i < 20; i++) await engine.append({ channel: 'hang.in', payload: JSON.stringify({ i }) });
    await eventually(async () => (await kvNumber(engine, 'hang', 'started')) === 1);
    // hang.ts waits forever with a 60 s wall time: a delete that waited for it would time the test out.
    expect(await remove('hang')).toBe(200);
    expect(node.runner.list()).toEqual([]);
    expect(await engine.groups.pending('block.hang')).toBe(0);
    // Redeployed, the block starts a new group: the deleted one's backlog is not handed to it.
    expect((await deploy('hang.ts')).status).toBe(201);
    await engine.append({ channel: 'hang.in', payload: JSON.stringify({ fresh: true }) });
    await eventually(async () => (await kvNumber(engine, 'hang', 'started')) === 2);
    expect(await engine.groups.pending('block.hang')).toBe(1);
  });
});

describe('hostile blocks: the hop limit', () => {
  it('reaches the handler and the caller as HOP_LIMIT, not HOST_REFUSED', async () => {
    const { runner: r, engine } = runner();
    const { name } = await deployFixture(r, 'hostile/hop-limit.ts');
    const err = await r.replay(name, { channel: 'hop.in', offset: 1, epoch: 'e', time: 0, data: {}, hops: 8 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlockError);
    expect((err as BlockError).code).toBe('HOP_LIMIT');
    expect(await engine.kv.get(`block:${name}`, 'seen')).toBe('HOP_LIMIT');
    expect(await payloads(engine, 'hop.out')).toEqual([]);
    // Below the limit it publishes.
    expect(await r.replay(name, { channel: 'hop.in', offset: 2, epoch: 'e', time: 0, data: {}, hops: 7 })).toBe(true);
    expect(await payloads(engine, 'hop.out')).toEqual([{ hops: 7 }]);
  });

  it('dead-letters a message that hit the hop limit with code HOP_LIMIT', async () => {
    const { runner: r, engine } = runner({ retry: { attempts: 1, baseMs: 1, maxMs: 2 } });
    const { name } = await deployFixture(r, 'hostile/hop-limit.ts');
    await engine.append({ channel: 'hop.in', payload: '{}', hops: 8 });
    const dead = await eventually(async () => (await payloads(engine, `$dlq.${name}`))[0]);
    expect(dead).toMatchObject({ error: { code: 'HOP_LIMIT' }, hops: 8 });
  });
});

describe('hostile blocks: before-publish on system channels', () => {
  it('refuses at deploy a before-publish block on $logs or $dlq (422 INVALID_BLOCK), so log lines cannot be rewritten', async () => {
    const { deploy, engine } = await adminNode();
    expect((await deploy('echo.ts')).status).toBe(201);
    for (const name of ['hostile/intercept-logs.ts', 'hostile/intercept-dlq.ts']) {
      const { status, body } = await deploy(name);
      expect(status, name).toBe(422);
      expect(body.error?.code, name).toBe('INVALID_BLOCK');
      expect(body.error?.message, name).toMatch(/system channel/);
    }
    await echoStillWorks(engine);
    const lines = await payloads(engine, '$logs.echo');
    expect(lines[0]).toMatchObject({ block: 'echo', message: 'got' });
  });

});
