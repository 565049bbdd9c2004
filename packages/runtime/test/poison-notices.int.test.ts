import { MemoryEngine, type StreamEngine } from '@tributary/engine';
import { RedisEngine } from '@tributary/engine/redis';
import { eventually } from '@tributary/testkit';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BlockNode, compileBlock, DEPLOY_CHANNEL } from '../src/index.js';
import { closeAfterTest, enginePublish, fixture, redisForFile } from './helpers.js';

// `$blocks.deployed` is read by every node on the engine: an entry a client (or a bug) wrote there
// with the wrong shape must be ignored, not crash each node that follows the channel.

const redis = redisForFile();

// Each is a payload the engine stores as given: JSON that is not a notice, and one that is not JSON.
const POISON = ['null', '42', '"x"', '{"name":5}', '{"name":"../x"}', '[{"name":"echo"}]', '{"name":"Echo"}', 'not json'];

async function badNotices(registry: Registry): Promise<number> {
  const m = await registry.getSingleMetric('tributary_block_bad_notices_total')?.get();
  return (m?.values ?? []).reduce((n, v) => n + v.value, 0);
}

async function node(engine: StreamEngine, registry: Registry): Promise<BlockNode> {
  const n = await BlockNode.start({ engine, publish: enginePublish(engine), pollMs: 20, metrics: registry });
  closeAfterTest(() => n.close());
  return n;
}

const engines: Record<string, () => { a: StreamEngine; b: StreamEngine; writer: StreamEngine }> = {
  memory: () => {
    const e = new MemoryEngine();
    closeAfterTest(() => e.close());
    return { a: e, b: e, writer: e };
  },
  redis: () => {
    const keyPrefix = `p${Math.random().toString(36).slice(2, 8)}:`;
    const make = (): RedisEngine => {
      const e = new RedisEngine({ url: redis().url, keyPrefix });
      closeAfterTest(() => e.close());
      return e;
    };
    // Three processes: two nodes, and whoever writes the poison.
    return { a: make(), b: make(), writer: make() };
  },
};

describe.each(Object.keys(engines))('poisoned $blocks.deployed notices (%s engine)', (kind) => {
  it('are ignored and counted; a later real deploy still reaches the other node', async () => {
    const { a, b, writer } = (engines[kind] as () => { a: StreamEngine; b: StreamEngine; writer: StreamEngine })();
    const regA = new Registry();
    const regB = new Registry();
    const nodeA = await node(a, regA);
    const nodeB = await node(b, regB);

    for (const payload of POISON) await writer.append({ channel: DEPLOY_CHANNEL, payload });
    // Both nodes read every poisoned entry (the follow delivers in order) before going on.
    await eventually(async () => (await badNotices(regB)) === POISON.length && (await badNotices(regA)) === POISON.length);

    // Still alive and following: a deploy on A is announced on the same channel and B loads it.
    await nodeA.deploy(await compileBlock(fixture('echo.ts')), {});
    await eventually(() => nodeB.runner.list().some((blk) => blk.name === 'echo'));
    await a.append({ channel: 'in.x', payload: JSON.stringify({ hello: 1 }) });
    await eventually(async () => (await a.read('out.in.x', { limit: 10 })).entries.length > 0);
    expect(await badNotices(regB)).toBe(POISON.length);
  });
});

describe('forged entries on $dlq.<block>', () => {
  it('are left out of the list, cannot be replayed or dropped, and are counted once', async () => {
    const engine = new MemoryEngine();
    closeAfterTest(() => engine.close());
    const registry = new Registry();
    const n = await BlockNode.start({
      engine,
      publish: enginePublish(engine),
      pollMs: 20,
      metrics: registry,
      retry: { attempts: 1, baseMs: 1, maxMs: 1 },
    });
    closeAfterTest(() => n.close());
    await n.deploy(await compileBlock(fixture('flaky.ts')), {});
    const forged = [
      'null',
      '{"block":"flaky","channel":5}',
      JSON.stringify({
        block: 'other',
        version: 'v',
        channel: 'jobs.a',
        offset: 1,
        epoch: 'e',
        time: 1,
        data: {},
        error: { code: 'X', message: 'm' },
        attempts: 1,
        failedAt: 1,
      }),
    ];
    for (const payload of forged) await engine.append({ channel: '$dlq.flaky', payload });
    await engine.append({ channel: 'jobs.a', payload: JSON.stringify({ id: 'j1', failUntil: 99 }) });
    const listed = await eventually(async () => {
      const l = await n.deadLetters.list('flaky');
      return l.entries.length > 0 ? l : undefined;
    });
    expect(listed.unresolved).toBe(1);
    expect(listed.entries.map((e) => [e.offset, e.record.data])).toEqual([[4, { id: 'j1', failUntil: 99 }]]);
    await n.deadLetters.list('flaky');
    for (const offset of [1, 2, 3]) {
      await expect(n.deadLetters.replay('flaky', offset)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(n.deadLetters.drop('flaky', offset)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    }
    expect(await badNotices(registry)).toBe(3);
  });
});

describe('a stored payload that is not JSON', () => {
  it('is dead-lettered with its text as data instead of being retried forever', async () => {
    const engine = new MemoryEngine();
    closeAfterTest(() => engine.close());
    const n = await BlockNode.start({ engine, publish: enginePublish(engine), pollMs: 20, retry: { attempts: 1, baseMs: 1, maxMs: 1 } });
    closeAfterTest(() => n.close());
    await n.deploy(await compileBlock(fixture('flaky.ts')), {});
    await engine.append({ channel: 'jobs.raw', payload: 'not json' });
    const l = await eventually(async () => {
      const r = await n.deadLetters.list('flaky');
      return r.entries.length > 0 ? r : undefined;
    });
    expect(l.entries[0]?.record).toMatchObject({ channel: 'jobs.raw', data: 'not json' });
  });
});
