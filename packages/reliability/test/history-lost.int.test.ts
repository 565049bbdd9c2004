// When the history a subscriber needs is gone — here Redis restarted without persistence, so every
// channel starts a new epoch — the client must be told (`recovered: false`), never resumed silently
// from a wrong position.
import type { TributaryClient } from '@tributary/client';
import { startRedis, type RedisServer } from '@tributary/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SubscriberLog, until } from '../src/ledger.js';
import { testClient } from '../src/load.js';
import { killAll, spawnCli } from '../src/procs.js';

let redis: RedisServer;
const clients: TributaryClient[] = [];
beforeAll(async () => {
  redis = await startRedis(); // --save "" --appendonly no: a restart loses everything
});
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await killAll();
  await redis.stop();
});

describe('history lost with Redis (no persistence)', () => {
  it('a subscriber resuming on another node is told recovered: false, and then gets the new epoch once, in order', async () => {
    if (redis.process === undefined) return; // REDIS_URL given: cannot restart it
    const args = ['--insecure', '--redis', redis.url, '--blocks', '/nonexistent'];
    const [a, b] = await Promise.all([spawnCli(args), spawnCli(args)]);
    const sub = testClient([a.wsUrl, b.wsUrl]);
    const pub = testClient(b.wsUrl);
    clients.push(sub, pub);
    await Promise.all([sub.connect(), pub.connect()]);
    const log = new SubscriberLog();
    await sub.subscribe('lost', log.handler, { onRecovery: log.onRecovery });
    for (let seq = 1; seq <= 5; seq++) await pub.publish('lost', { p: 'x', seq });
    await until(() => log.messages.length === 5, 'the first five');
    const oldEpoch = log.messages[0]!.epoch;

    await redis.restart(); // everything stored is gone
    await a.kill(); // and the subscriber's node dies: it must resume elsewhere from { 5, oldEpoch }
    await until(
      async () =>
        await pub.publish('lost', { p: 'y', seq: 1 }).then(
          () => true,
          () => false,
        ),
      'a publish after the restart',
    );
    await until(() => log.recoveries.length > 0, 'the recovery report');
    expect(log.recoveries[0]).toMatchObject({ channel: 'lost', recovered: false, resubscribed: true });
    expect(log.recoveries[0]!.position?.epoch).not.toBe(oldEpoch);
    for (let seq = 2; seq <= 5; seq++) await pub.publish('lost', { p: 'y', seq });
    await until(
      () =>
        log.messages.filter((m) => m.epoch !== oldEpoch).length === 5 ||
        (log.messages.at(-1)?.offset === 5 && log.messages.at(-1)?.epoch !== oldEpoch),
      'the new epoch',
    );
    const fresh = log.messages.filter((m) => m.epoch !== oldEpoch).map((m) => (m.data as { seq: number }).seq);
    // Delivery continues from the broker's position at resume: a suffix of 1..5, in order, once.
    expect(fresh).toEqual([1, 2, 3, 4, 5].slice(5 - fresh.length));
    expect(fresh.length).toBeGreaterThanOrEqual(4);
  });
});
