import { RedisEngine } from '@tributary/engine/redis';
import { startRedis } from '@tributary/testkit';
import { fileURLToPath } from 'node:url';
import { SubscriberLog, sleep, type Acked } from './ledger.js';
import { publishSequence, testClient } from './load.js';
import { killAll, spawnCli } from './procs.js';
import type { TributaryClient } from '@tributary/client';

/** Largest allowed rise of a broker's RSS from the first to the last third of the run (medians). */
export const SOAK_RSS_GROWTH_BOUND = 64 * 1024 * 1024;
/** Queues (subscriber lag in messages, block consumer-group pending) must end at most this long. */
export const SOAK_QUEUE_BOUND = 500;

/** One sample of the soak. */
export interface SoakSample {
  t: number;
  rss: number[];
  /** Acknowledged but not yet delivered, the worst subscriber, in messages. */
  lag: number;
  /** Entries the tally block has not acked yet. */
  pending: number;
  acked: number;
}

/** What a soak run found. */
export interface SoakResult {
  durationMs: number;
  samples: SoakSample[];
  rssGrowth: number[];
  finalLag: number;
  finalPending: number;
  published: number;
  delivered: number;
  churnSubscribes: number;
  reconnects: number;
  deliveryErrors: string[];
  ok: boolean;
  verdict: string;
}

const BLOCKS = fileURLToPath(new URL('../test/fixtures/blocks', import.meta.url));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0;

/**
 * Mixed load on two broker processes sharing one Redis: steady publishers, subscribers that check
 * exactly-once delivery, subscribe/unsubscribe churn, clients that reconnect all the time, and an
 * after-publish block on every message. RSS and queue sizes are sampled every `sampleMs`; the verdict
 * compares the first and last thirds of the run (the first 10% is warm-up).
 */
export async function runSoak(durationMs: number, sampleMs = 1000): Promise<SoakResult> {
  const redis = await startRedis();
  const clients: TributaryClient[] = [];
  const inspector = new RedisEngine({ url: redis.url });
  const mk = (url: string | string[]): TributaryClient => {
    const c = testClient(url);
    clients.push(c);
    return c;
  };
  try {
    const args = ['--insecure', '--redis', redis.url, '--blocks', BLOCKS];
    const nodes = await Promise.all([spawnCli(args), spawnCli(args)]);
    const urls = nodes.map((n) => n.wsUrl);
    const channels = ['soak.c0', 'soak.c1', 'soak.c2', 'soak.c3'];
    const subs = channels.map((_, i) => mk(i % 2 === 0 ? urls : [...urls].reverse()));
    const pubs = channels.map((_, i) => mk(urls[i % 2]!));
    await Promise.all([...subs, ...pubs].map((c) => c.connect()));
    const logs = channels.map(() => new SubscriberLog());
    await Promise.all(subs.map((c, i) => c.subscribe(channels[i]!, logs[i]!.handler, { onRecovery: logs[i]!.onRecovery })));
    const runs = pubs.map((c, i) => publishSequence(c, channels[i]!, `p${i}`, Number.MAX_SAFE_INTEGER, 10));

    let stop = false;
    let churnSubscribes = 0;
    let reconnects = 0;
    const churn = Array.from({ length: 4 }, async (_, i) => {
      const c = mk(urls[i % 2]!);
      await c.connect();
      while (!stop) {
        const s = await c.subscribe(channels[(churnSubscribes + i) % channels.length]!, () => {}).catch(() => undefined);
        churnSubscribes++;
        await sleep(100);
        await s?.unsubscribe().catch(() => {});
      }
    });
    const reconnecting = Array.from({ length: 2 }, async (_, i) => {
      while (!stop) {
        const c = testClient(urls[i % 2]!);
        await c.connect().catch(() => {});
        await c.subscribe(channels[i]!, () => {}).catch(() => {});
        await c.publish(channels[i]!, { p: 'reconnect', seq: 0 }).catch(() => {});
        await sleep(250);
        await c.close();
        reconnects++;
      }
    });

    const samples: SoakSample[] = [];
    const t0 = Date.now();
    const ackedTop = (i: number): number => runs[i]!.acked.at(-1)?.offset ?? 0;
    while (Date.now() - t0 < durationMs) {
      await sleep(sampleMs);
      samples.push({
        t: Date.now() - t0,
        rss: nodes.map((n) => n.rss()),
        // The reconnecting clients' publishes interleave: lag is measured against acked offsets.
        lag: Math.max(...logs.map((l, i) => Math.max(0, ackedTop(i) - l.last))),
        pending: await inspector.groups.pending('block.tally').catch(() => -1),
        acked: runs.reduce((n, r) => n + r.acked.length, 0),
      });
    }
    stop = true;
    for (const r of runs) r.stop();
    await Promise.all([...churn, ...reconnecting, ...runs.map((r) => r.done)]);
    await sleep(1000);

    const deliveryErrors: string[] = [];
    logs.forEach((l, i) => {
      // Soak publishers stop at an arbitrary point: check what was acknowledged up to the end.
      const acked: Acked[] = runs[i]!.acked;
      const r = l.report(acked);
      if (r.missing.length + r.duplicates.length + r.gaps.length > 0 || r.notRecovered > 0) {
        deliveryErrors.push(`${channels[i]}: ${JSON.stringify({ ...r, missing: r.missing.slice(0, 10) })}`);
      }
    });
    const body = samples.filter((s) => s.t > durationMs * 0.1);
    const third = Math.max(1, Math.floor(body.length / 3));
    const first = body.slice(0, third);
    const last = body.slice(-third);
    const rssGrowth = nodes.map((_, n) => median(last.map((s) => s.rss[n]!)) - median(first.map((s) => s.rss[n]!)));
    const finalLag = median(last.map((s) => s.lag));
    const finalPending = median(last.map((s) => s.pending));
    const problems = [
      ...rssGrowth.filter((g) => g > SOAK_RSS_GROWTH_BOUND).map((g) => `RSS grew ${(g / 2 ** 20).toFixed(1)} MiB`),
      ...(finalLag > SOAK_QUEUE_BOUND ? [`subscriber lag ${finalLag}`] : []),
      ...(finalPending > SOAK_QUEUE_BOUND || finalPending < 0 ? [`block pending ${finalPending}`] : []),
      ...deliveryErrors,
      ...nodes.filter((n) => !n.alive()).map(() => 'a broker died'),
    ];
    return {
      durationMs,
      samples,
      rssGrowth,
      finalLag,
      finalPending,
      published: samples.at(-1)?.acked ?? 0,
      delivered: logs.reduce((n, l) => n + l.messages.length, 0),
      churnSubscribes,
      reconnects,
      deliveryErrors,
      ok: problems.length === 0,
      verdict:
        problems.length === 0
          ? `ok: RSS growth ${rssGrowth.map((g) => `${(g / 2 ** 20).toFixed(1)} MiB`).join(', ')} (bound ${SOAK_RSS_GROWTH_BOUND / 2 ** 20} MiB); lag ${finalLag}, pending ${finalPending} (bound ${SOAK_QUEUE_BOUND})`
          : `FAILED: ${problems.join('; ')}`,
    };
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
    await inspector.close();
    await killAll();
    await redis.stop();
  }
}
