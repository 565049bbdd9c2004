import { TributaryClient, type Message } from '@tributary/client';
import { eventually, startRedis, type RedisServer } from '@tributary/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, type Running } from './cli.js';

let redis: RedisServer;
const procs: Running[] = [];
const clients: TributaryClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await Promise.allSettled(procs.map((p) => p.stop('SIGKILL')));
  await redis.stop();
});

async function node(): Promise<{ url: string; proc: Running }> {
  const n = await startCli(['--insecure', '--redis', redis.url, '--blocks', '/nonexistent', '--log-level', 'warn']);
  procs.push(n.proc);
  return n;
}

function client(url: string): TributaryClient {
  const c = new TributaryClient({ url, reconnect: { minDelayMs: 50, maxDelayMs: 200 } });
  clients.push(c);
  return c;
}

describe('two broker processes on one Redis', () => {
  it('delivers in order across nodes, and a subscriber resumes on node B after node A is killed, losing nothing', async () => {
    const a = await node();
    const b = await node();
    const subscriber = client(a.url);
    await subscriber.connect();
    const got: Message[] = [];
    const sub = await subscriber.subscribe('orders', (m) => void got.push(m));

    const publisher = client(b.url);
    await publisher.connect();
    const total = 200;
    let published = 0;
    const publishing = (async () => {
      for (let i = 1; i <= total; i++) {
        await publisher.publish('orders', { i });
        published = i;
      }
    })();

    await eventually(() => got.length >= 50, { timeoutMs: 15_000 });
    a.proc.child.kill('SIGKILL'); // node A dies mid-stream
    const position = sub.position;
    expect(position).toBeDefined();

    // Resume on node B from the last position node A delivered.
    const resumed = client(b.url);
    await resumed.connect();
    const after: Message[] = [];
    let recovered: boolean | undefined;
    await resumed.subscribe('orders', (m) => void after.push(m), {
      since: position,
      onRecovery: (info) => (recovered = info.recovered),
    });
    await publishing;
    expect(published).toBe(total);
    await eventually(() => (position?.offset ?? 0) + after.length >= total, { timeoutMs: 15_000 });

    expect(recovered).toBe(true);
    const beforeKill = got.filter((m) => m.offset <= (position?.offset ?? 0));
    const all = [...beforeKill, ...after].map((m) => (m.data as { i: number }).i);
    expect(all).toEqual(Array.from({ length: total }, (_, k) => k + 1)); // in order, no gap, no duplicate
  });
});
