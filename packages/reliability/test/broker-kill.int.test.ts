// Fault: kill -9 a broker node while clients publish and subscribe through it. Every client knows
// both nodes (`url: [a, b]`), so it reconnects to the survivor and resumes from its position.
import type { TributaryClient } from '@tributary/client';
import { startRedis, type RedisServer } from '@tributary/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SubscriberLog, until, type Acked } from '../src/ledger.js';
import { publishSequence, testClient } from '../src/load.js';
import { killAll, spawnCli } from '../src/procs.js';

let redis: RedisServer;
const clients: TributaryClient[] = [];
beforeAll(async () => {
  redis = await startRedis({ args: ['--appendonly', 'yes'] });
});
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await killAll();
  await redis.stop();
});

describe('kill -9 a broker node mid-stream', () => {
  it('delivers every acknowledged message exactly once, in order, to every subscriber after it moves to the other node', async () => {
    const args = ['--insecure', '--redis', redis.url, '--blocks', '/nonexistent'];
    const [a, b] = await Promise.all([spawnCli(args), spawnCli(args)]);
    const channel = `orders.${Date.now()}`;
    const PER_PUBLISHER = 300;
    // Half the clients start on A (the node that dies), half on B.
    const mk = (i: number): TributaryClient => {
      const c = testClient(i % 2 === 0 ? [a.wsUrl, b.wsUrl] : [b.wsUrl, a.wsUrl]);
      clients.push(c);
      return c;
    };
    const subscribers = Array.from({ length: 6 }, (_, i) => mk(i));
    const publishers = Array.from({ length: 4 }, (_, i) => mk(i));
    await Promise.all([...subscribers, ...publishers].map((c) => c.connect()));
    const logs = subscribers.map(() => new SubscriberLog());
    await Promise.all(subscribers.map((c, i) => c.subscribe(channel, logs[i]!.handler, { onRecovery: logs[i]!.onRecovery })));

    const runs = publishers.map((c, i) => publishSequence(c, channel, `p${i}`, PER_PUBLISHER, 2));
    await until(() => logs.every((l) => l.messages.length >= 150), 'traffic before the kill');
    await a.kill();
    await Promise.all(runs.map((r) => r.done));
    const acked: Acked[] = runs.flatMap((r) => r.acked);
    expect(acked).toHaveLength(4 * PER_PUBLISHER);
    const top = Math.max(...acked.map((x) => x.offset));
    await until(() => logs.every((l) => l.last >= top || l.recoveries.some((r) => !r.recovered)), 'every subscriber caught up');

    for (const l of logs) {
      const r = l.report(acked);
      if (r.notRecovered > 0) {
        // The allowed outcome: the client was told. Even then nothing arrives twice.
        expect(r.duplicates).toEqual([]);
        continue;
      }
      expect(r).toEqual({ received: top, missing: [], duplicates: [], gaps: [], reordered: [], notRecovered: 0 });
    }
    // Every publisher ended up stored once per sequence number: offsets 1..top, each acked once.
    expect(new Set(acked.map((x) => x.offset)).size).toBe(acked.length);
    expect(top).toBe(acked.length);
    // At least the clients that were on A reconnected and recovered (nobody silently gave up).
    const resumed = logs.filter((l) => l.recoveries.some((r) => r.recovered && r.resubscribed));
    expect(resumed.length).toBeGreaterThanOrEqual(3);
    expect(b.alive()).toBe(true);
  });
});
