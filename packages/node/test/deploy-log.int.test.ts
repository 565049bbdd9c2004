import { Writable } from 'node:stream';
import { RedisEngine } from '@tributary/engine/redis';
import { BlockRegistry, compileSource, DEPLOY_CHANNEL } from '@tributary/runtime';
import { startRedis, type RedisServer } from '@tributary/testkit';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNode } from '../src/node.js';

// With Redis every node follows `$blocks.deployed` and loads what another node deployed. A node
// that hears a version announced while its own deploy of that version is still loading must not
// load it a second time (and log `block deployed` twice): as when two nodes start at once with the
// same block folders, each announcing what it deploys.

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/**
 * A request block whose top-level code spins for a while: its deploy stays in flight long enough
 * for the notice of the same version to arrive (a few Redis round trips) while it loads.
 */
const slowLoading = (name: string): string => `import { defineBlock } from '@tributary/block';
const until = Date.now() + 150;
while (Date.now() < until) {}
export default defineBlock({ name: '${name}', trigger: { request: true }, limits: { cpuMs: 1000 }, handle: () => ({ body: 'ok' }) });
`;

interface LogLine {
  msg: string;
  block?: string;
  version?: string;
}

describe('block deploy logging on Redis', () => {
  it('logs a deploy once when the same version is announced while it loads', async () => {
    const keyPrefix = `dl${Math.random().toString(36).slice(2, 8)}:`;
    const lines: LogLine[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as LogLine);
        done();
      },
    });
    const engine = new RedisEngine({ url: redis.url, keyPrefix });
    cleanups.push(() => engine.close());
    // One runner process: block loads run one after another, in the order they were asked for.
    const node = await startNode({
      engine,
      auth: { insecure: true },
      port: 0,
      logger: pino({ level: 'info' }, sink),
      runners: { size: 1 },
    });
    cleanups.push(() => node.close());
    // Another node on the same Redis, as far as deploys go: its registry stores and announces.
    const otherEngine = new RedisEngine({ url: redis.url, keyPrefix });
    cleanups.push(() => otherEngine.close());
    const other = new BlockRegistry(otherEngine);

    const compiled = await compileSource(slowLoading('twice'));
    let heard!: () => void;
    const noticeHeard = new Promise<void>((resolve) => (heard = resolve));
    // Registered after the node's own follow of the channel, so called after the node's listener.
    const follow = await engine.follow(DEPLOY_CHANNEL, (e) => {
      if ((JSON.parse(e.payload) as { name?: string }).name === 'twice') heard();
    });
    cleanups.push(() => follow.close());

    const mine = node.blocks.deploy(compiled, {});
    await other.save('twice', compiled, {});
    await noticeHeard;
    // Asked for after the node heard the notice: whatever the notice started is ahead of it.
    const after = node.blocks.deploy(await compileSource(slowLoading('after')), {});
    await Promise.all([mine, after]);

    const deployed = lines.filter((l) => l.msg === 'block deployed');
    expect(deployed.filter((l) => l.block === 'twice')).toEqual([expect.objectContaining({ version: compiled.version })]);
    expect(deployed.filter((l) => l.block === 'after')).toHaveLength(1);
    expect(node.blocks.runner.list().map((b) => b.name)).toEqual(['after', 'twice']);
  });
});
