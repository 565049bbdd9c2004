import { RedisEngine } from '@tributary/engine';
import { startRedis, type RedisServer } from '@tributary/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { broker, socket } from './helpers.js';

let redis: RedisServer;
const engines: RedisEngine[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.allSettled(engines.map((e) => e.close()));
  await redis.stop();
});

function redisEngine(): RedisEngine {
  const e = new RedisEngine({ url: redis.url, keyPrefix: `rv${Math.random().toString(36).slice(2, 8)}:` });
  engines.push(e);
  return e;
}

describe('pipelined publishes', () => {
  it('stores one connection’s publishes in send order across channels', async () => {
    const b = await broker({ engine: redisEngine() });
    const sub = await socket(b.wsUrl);
    await sub.request({ type: 'subscribe', channel: 'room.>' });
    const pub = await socket(b.wsUrl);
    // e.g. 100 chat lines, then an index update that refers to them; sent without waiting for acks.
    for (let i = 1; i <= 100; i++) pub.send({ type: 'publish', id: `m${i}`, channel: 'room.chat', data: i });
    pub.send({ type: 'publish', id: 'idx', channel: 'room.index', data: 'after 100' });
    await pub.request({ type: 'ping' }); // waits for every publish before it to be stored
    await sub.next((f) => f.type === 'message' && f.channel === 'room.index');
    await sub.next((f) => f.type === 'message' && f.channel === 'room.chat' && f.data === 100);
    const order = sub.frames.filter((f) => f.type === 'message').map((f) => (f.channel === 'room.index' ? 'idx' : f.data));
    expect(order).toEqual([...Array.from({ length: 100 }, (_, i) => i + 1), 'idx']);
  });

  it('frames messages of lengths 125/126/127/65535/65536/65537 correctly (RFC 6455 length encodings)', async () => {
    const b = await broker({ maxPayloadBytes: 200_000 });
    const sub = await socket(b.wsUrl);
    const sizes: number[] = [];
    sub.ws.on('message', (data: Buffer) => sizes.push(data.length));
    await sub.request({ type: 'subscribe', channel: 'len' });
    const pub = await socket(b.wsUrl);
    await pub.request({ type: 'publish', channel: 'len', data: '' }); // offset 1: measures the frame overhead
    await sub.next((f) => f.type === 'message' && f.offset === 1);
    const base = sizes[sizes.length - 1] as number; // JSON bytes with data ""
    const targets = [125, 126, 127, 65_535, 65_536, 65_537];
    for (const t of targets) await pub.request({ type: 'publish', channel: 'len', data: 'x'.repeat(t - base) });
    await sub.next((f) => f.type === 'message' && f.offset === 1 + targets.length);
    expect(sizes.slice(-targets.length)).toEqual(targets);
    expect(sub.ws.readyState).toBe(1);
  });
});

describe('shutdown', () => {
  it('writes held messages and the 1001 close frame before cutting connections', async () => {
    const b = await broker({ writeCoalesceMs: 100 });
    const sub = await socket(b.wsUrl);
    await sub.request({ type: 'subscribe', channel: 'bye' });
    const pub = await socket(b.wsUrl);
    await pub.request({ type: 'publish', channel: 'bye', data: 1 });
    await sub.next((f) => f.type === 'message' && f.offset === 1);
    // The subscriber was just written to, so this one waits for the coalescing tick…
    await pub.request({ type: 'publish', channel: 'bye', data: 2 });
    await b.close(); // …which shutdown must not drop.
    expect((await sub.closed).code).toBe(1001);
    expect(sub.frames.filter((f) => f.type === 'message').map((f) => f.data)).toEqual([1, 2]);
  });
});
