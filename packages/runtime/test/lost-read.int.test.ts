import { MemoryEngine, type StreamEngine } from '@tributary/engine';
import { RedisEngine } from '@tributary/engine/redis';
import { eventually } from '@tributary/testkit';
import { describe, expect, it } from 'vitest';
import { groupName } from '../src/consumer.js';
import { BlockRunner, compileBlock } from '../src/index.js';
import { closeAfterTest, enginePublish, fixture, redisForFile } from './helpers.js';

// A consumer's read can hand it entries whose reply never reaches it: Redis stored the read (the
// entries are now pending for that consumer) and died, or the connection dropped, before answering.
// No other consumer claims them before `claimIdleMs` (30 s by default), so the consumer itself must
// ask for its own pending entries again — when it starts, and after a read failed.

const redis = redisForFile();

const engines: Record<string, () => StreamEngine> = {
  memory: () => new MemoryEngine(),
  redis: () => new RedisEngine({ url: redis().url, keyPrefix: `lr${Math.random().toString(36).slice(2, 8)}:` }),
};

describe.each(Object.keys(engines))('entries handed to a consumer whose read reply was lost (%s engine)', (kind) => {
  it('are handled as soon as that consumer runs again, not after the claim time', async () => {
    const engine = (engines[kind] as () => StreamEngine)();
    closeAfterTest(() => engine.close());
    const block = await compileBlock(fixture('echo.ts'));
    const start = async (): Promise<BlockRunner> => {
      // The default claim time: a claim would take 30 s or more to hand these out.
      const r = new BlockRunner({ engine, publish: enginePublish(engine), consumer: 'node-1', pollMs: 20 });
      closeAfterTest(() => r.close());
      await r.deploy(block);
      return r;
    };
    const first = await start();
    await first.close();
    // More than one batch (32): what does not fit in the first must not wait for the claim either.
    const ns = Array.from({ length: 40 }, (_, i) => i + 1);
    for (const n of ns) await engine.append({ channel: 'in.lost', payload: JSON.stringify({ n }) });
    // The read that node-1 made and never got the answer of.
    const lost = await engine.groups.read(groupName('echo'), 'node-1', 100);
    expect(lost.map((e) => e.offset)).toEqual(ns);

    await start();
    await eventually(async () => (await engine.state('out.in.lost')).last >= ns.length, { timeoutMs: 10_000, message: 'all echoed' });
    const { entries } = await engine.read('out.in.lost', { after: 0, limit: 100 });
    expect(entries.map((m) => (JSON.parse(m.payload) as { echo: { n: number } }).echo.n)).toEqual(ns);
    // Each acked after its output was stored.
    await eventually(async () => (await engine.groups.pending(groupName('echo'))) === 0, { message: 'nothing left pending' });
  }, 30_000);
});
