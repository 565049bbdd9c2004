// Fault: a block runner process dies (kill -9) in the middle of a message. Another runner on the
// same Redis takes the message over after `claimIdleMs` and finishes it; a message that fails every
// attempt ends in the dead-letter channel; no message is processed zero times.
import type { TributaryClient } from '@tributary/client';
import { RedisEngine } from '@tributary/engine/redis';
import { startRedis, type RedisServer } from '@tributary/testkit';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../src/ledger.js';
import { testClient } from '../src/load.js';
import { killAll, spawnNode } from '../src/procs.js';

const BLOCKS = fileURLToPath(new URL('./fixtures/blocks', import.meta.url));
let redis: RedisServer;
const clients: TributaryClient[] = [];
const engines: RedisEngine[] = [];
beforeAll(async () => {
  redis = await startRedis({ args: ['--appendonly', 'yes'] });
});
afterAll(async () => {
  await Promise.allSettled([...clients.map((c) => c.close()), ...engines.map((e) => e.close())]);
  await killAll();
  await redis.stop();
});

describe('kill -9 a block runner mid-message', () => {
  it('another runner reclaims and finishes it, failures end in $dlq after N attempts, nothing is processed zero times', async () => {
    const keyPrefix = `rel${Date.now()}:`;
    const ATTEMPTS = 3;
    const common = {
      redis: redis.url,
      keyPrefix,
      blockDirs: [BLOCKS],
      claimIdleMs: 1000,
      pollMs: 50,
      retry: { attempts: ATTEMPTS, baseMs: 20, maxMs: 100 },
    };
    // The test reads the block's kv and group straight from Redis, as a third process would.
    const inspector = new RedisEngine({ url: redis.url, keyPrefix });
    engines.push(inspector);
    const kv = (key: string): Promise<string | undefined> => inspector.kv.get('block:reclaim', key);
    const a = await spawnNode({ ...common, consumer: 'runner-a' });
    const client = testClient(a.wsUrl);
    clients.push(client);
    await client.connect();

    // Runner A alone: job 1 hangs on its first delivery, so A is certainly mid-message when killed.
    await client.publish('jobs.x', { id: 1, hang: true });
    await until(async () => (await kv('starts:1')) === '1', 'runner A started job 1');
    await a.kill();

    const b = await spawnNode({ ...common, consumer: 'runner-b' });
    const c2 = testClient(b.wsUrl);
    clients.push(c2);
    await c2.connect();
    const JOBS = 40;
    for (let id = 2; id <= JOBS; id++) await c2.publish('jobs.x', { id, fail: id % 10 === 0 });

    const failing = Array.from({ length: JOBS }, (_, i) => i + 1).filter((id) => id % 10 === 0);
    await until(
      async () => {
        const fin = (await c2.history('finished', { limit: 1000 })).messages.length;
        const dead = (await c2.history('$dlq.reclaim', { limit: 1000 })).messages.length;
        return fin + dead >= JOBS;
      },
      'every job finished or dead-lettered',
      30_000,
    );

    const finished = (await c2.history('finished', { limit: 1000 })).messages.map((m) => m.data as { id: number; starts: number });
    const dead = (await c2.history('$dlq.reclaim', { limit: 1000 })).messages.map(
      (m) => m.data as { data: { id: number }; attempts: number; error: { code: string } },
    );
    // Job 1: started on A (killed), reclaimed and finished on B.
    expect(finished.find((f) => f.id === 1)).toEqual({ id: 1, starts: 2 });
    // The failing jobs: exactly one dead letter each, after ATTEMPTS attempts, with a typed error.
    expect(dead.map((d) => d.data.id).sort((x, y) => x - y)).toEqual(failing);
    for (const d of dead) expect(d).toMatchObject({ attempts: ATTEMPTS, error: { code: 'HANDLER_ERROR' } });
    for (const id of failing) expect(await kv(`starts:${id}`)).toBe(String(ATTEMPTS));
    // Every other job finished exactly once (finishes counted in kv; `finished` deduplicated by msgId).
    const ok = Array.from({ length: JOBS }, (_, i) => i + 1).filter((id) => !failing.includes(id));
    expect(finished.map((f) => f.id).sort((x, y) => x - y)).toEqual(ok);
    for (const id of ok) expect(await kv(`finishes:${id}`)).toBe('1');
    await until(async () => (await inspector.groups.pending('block.reclaim')) === 0, 'nothing left pending');
  });
});
