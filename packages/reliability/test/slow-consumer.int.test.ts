// Fault: a subscriber stops reading. The broker must cut it off (close 4008) when its outgoing
// queue passes maxQueueBytes, and the other subscribers on the same channel must not slow down.
//
// Latency bound (the one timing assertion of this suite): p99 of publish→deliver latency for the
// healthy subscribers ≤ 1500 ms while the slow consumer fills up and is cut off. On an idle loopback
// the p99 is a few ms; 1500 ms leaves room for a 2-core CI machine running other test files at the
// same time, while a broker that let one socket hold up fan-out would blow through it (the healthy
// subscribers would wait for the slow one for as long as it does not read: for the whole test).
import type { TributaryClient } from '@tributary/client';
import { connectWs } from '@tributary/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { SubscriberLog, until } from '../src/ledger.js';
import { testClient } from '../src/load.js';
import { killAll, spawnNode } from '../src/procs.js';

export const LATENCY_P99_BOUND_MS = 1500;
const clients: TributaryClient[] = [];
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await killAll();
});

describe('a slow consumer', () => {
  it('is cut off at its queue bound while other subscribers keep their latency', async () => {
    const node = await spawnNode({ broker: { maxQueueBytes: 1024 * 1024 } });
    const slow = await connectWs(node.wsUrl);
    expect(await slow.request({ type: 'subscribe', channel: 'firehose' })).toMatchObject({ type: 'subscribed' });
    slow.ws.pause(); // stops reading: the kernel buffers fill, then the broker's queue

    const healthy = Array.from({ length: 3 }, () => testClient(node.wsUrl));
    const pub = testClient(node.wsUrl);
    clients.push(...healthy, pub);
    await Promise.all([...healthy, pub].map((c) => c.connect()));
    const logs = healthy.map(() => new SubscriberLog());
    const latencies: number[] = [];
    await Promise.all(
      healthy.map((c, i) =>
        c.subscribe('firehose', (m) => {
          latencies.push(Date.now() - m.time);
          logs[i]!.handler(m);
        }),
      ),
    );

    const pad = 'x'.repeat(16 * 1024);
    // The slow client reads nothing, so it cannot see its own close frame: ask the broker.
    const slowDisconnects = async (): Promise<number> => {
      const text = await (await fetch(`${node.url}/metrics`)).text();
      return Number(/^tributary_slow_consumer_disconnects_total (\d+)/m.exec(text)?.[1] ?? 0);
    };
    let seq = 0;
    // Publish in batches until the slow socket is cut off (bounded: at most ~100 MB).
    while ((await slowDisconnects()) === 0 && seq < 6000) {
      await Promise.all(Array.from({ length: 50 }, () => pub.publish('firehose', { p: 'pub', seq: ++seq, pad })));
    }
    expect(await slowDisconnects()).toBe(1);
    // Once it reads again, it learns why: 4008 (or, if the broker had to terminate the socket
    // before the close frame got through its full queue, an abnormal close).
    slow.ws.resume();
    expect([4008, 1006]).toContain((await slow.closed).code);
    // A few more after the cut-off: the healthy subscribers still get everything, in order.
    for (let i = 0; i < 20; i++) await pub.publish('firehose', { p: 'pub', seq: ++seq, pad });
    await until(() => logs.every((l) => l.messages.length === seq), 'healthy subscribers caught up');
    for (const l of logs) expect(l.messages.map((m) => m.offset)).toEqual(Array.from({ length: seq }, (_, k) => k + 1));

    latencies.sort((x, y) => x - y);
    const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? 0;
    console.log(
      `slow-consumer: cut off after ${seq} × 16 KiB; healthy p50 ${latencies[latencies.length >> 1]} ms, p99 ${p99} ms, max ${latencies.at(-1)} ms`,
    );
    expect(p99).toBeLessThanOrEqual(LATENCY_P99_BOUND_MS);
    expect(node.alive()).toBe(true);
  });
});
