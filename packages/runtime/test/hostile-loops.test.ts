import { MemoryEngine } from '@tributary/engine';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { BlockError, compileBlock } from '../src/index.js';
import { startAdminNode, type AdminNode } from './admin-node.js';
import { loopsContract } from './loops-contract.js';
import { deployFixture, echoStillWorks, fixture, payloads, runner } from './helpers.js';

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

loopsContract('memory engine', () => new MemoryEngine());

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
