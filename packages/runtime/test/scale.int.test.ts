import { RedisEngine } from '@tributary/engine/redis';
import { eventually } from '@tributary/testkit';
import { describe, expect, it } from 'vitest';
import { BlockRunner, type RunnerOptions } from '../src/index.js';
import { closeAfterTest, deployFixture, enginePublish, redisForFile } from './helpers.js';

/** Payloads stored on `channel`, oldest first. */
async function payloads<T>(engine: RedisEngine, channel: string): Promise<T[]> {
  const { entries } = await engine.read(channel, { after: 0, limit: 1000 });
  return entries.map((e) => JSON.parse(e.payload) as T);
}

const redis = redisForFile();

/** A fresh key prefix per test: tests never see each other's groups, kv or channels. */
function deployment() {
  const keyPrefix = `s${Math.random().toString(36).slice(2, 8)}:`;
  /** An engine as one process would have it. */
  const engine = (): RedisEngine => {
    const e = new RedisEngine({ url: redis().url, keyPrefix });
    closeAfterTest(() => e.close());
    return e;
  };
  /** A runner on its own engine: another process. */
  const runner = (consumer: string, options: Partial<RunnerOptions> = {}) => {
    const e = engine();
    const r = new BlockRunner({ engine: e, publish: enginePublish(e), consumer, pollMs: 20, ...options });
    closeAfterTest(() => r.close());
    return { runner: r, engine: e };
  };
  return { engine, runner };
}

interface Output {
  id: number;
  runner: string;
  times: number;
}

describe('after-publish blocks on Redis across runner processes', () => {
  it('shares 200 messages between two runners, each message handled once', async () => {
    const d = deployment();
    const a = d.runner('a');
    const b = d.runner('b');
    await deployFixture(a.runner, 'counted.ts', { runner: 'a' });
    await deployFixture(b.runner, 'counted.ts', { runner: 'b' });
    // The publishing side (a broker) is a third process; it reads the registry on its first append.
    const broker = d.engine();
    for (let id = 0; id < 200; id++) await broker.append({ channel: `scale.in.${id % 4}`, payload: JSON.stringify({ id }) });

    const outputs = await eventually(
      async () => {
        const o = await payloads<Output>(broker, 'scale.out');
        return o.length >= 200 ? o : undefined;
      },
      { timeoutMs: 30_000 },
    );
    await eventually(async () => (await broker.groups.pending('block.counted')) === 0, { timeoutMs: 10_000 });
    const final = await payloads<Output>(broker, 'scale.out');
    expect(final).toHaveLength(200);
    expect(new Set(outputs.map((o) => o.id))).toEqual(new Set(Array.from({ length: 200 }, (_, i) => i)));
    expect(final.every((o) => o.times === 1)).toBe(true);
    const handledA = Number(await broker.kv.get('block:counted', 'handled:a'));
    const handledB = Number(await broker.kv.get('block:counted', 'handled:b'));
    expect(handledA).toBeGreaterThan(0);
    expect(handledB).toBeGreaterThan(0);
    expect(handledA + handledB).toBe(200);
    expect(final.filter((o) => o.runner === 'a')).toHaveLength(handledA);
  });

  it('hands a message left unacked by a dead runner to the other runner, which finishes it', async () => {
    const d = deployment();
    const a = d.runner('a', { claimIdleMs: 300 });
    await deployFixture(a.runner, 'slow.ts');
    const broker = d.engine();
    await broker.append({ channel: 'work', payload: JSON.stringify({ hang: true, id: 1 }) });
    await eventually(async () => broker.kv.get('block:slow', 'starts:1'));
    // The runner process dies mid-message: its runner and its engine go; the entry stays pending.
    await a.runner.close();
    await a.engine.close();
    expect(await broker.groups.pending('block.slow')).toBe(1);

    const b = d.runner('b', { claimIdleMs: 300 });
    await deployFixture(b.runner, 'slow.ts');
    await broker.append({ channel: 'work', payload: JSON.stringify({ hang: false, id: 2 }) });
    const finished = await eventually(
      async () => {
        const f = await payloads<{ id: number; starts: number }>(broker, 'finished');
        return f.length === 2 ? f : undefined;
      },
      { timeoutMs: 10_000 },
    );
    expect(finished.sort((x, y) => x.id - y.id)).toEqual([
      { id: 1, starts: 2 }, // the second start, on runner b
      { id: 2, starts: 1 },
    ]);
    await eventually(async () => (await broker.groups.pending('block.slow')) === 0);
  });
});
