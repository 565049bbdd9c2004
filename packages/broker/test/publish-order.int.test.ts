// Fault: Redis is killed (kill -9) in the middle of a connection's pipelined burst and comes back
// on its AOF. The promise under test (docs/PROTOCOL.md): a client that retries every failed publish
// in order, with the same msgIds, finds its messages stored in the order it sent them.
import { RedisEngine } from '@tributary/engine/redis';
import { eventually, killAndWait, startRedis, type RedisServer } from '@tributary/testkit';
import { nanoid } from 'nanoid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { broker, socket } from './helpers.js';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'], honourEnv: false });
});
afterAll(async () => {
  await redis.stop();
});

type Reply = { type: string; id?: number; code?: string };

describe('publish order across a store failure', () => {
  it('stores a burst in send order once the failed publishes are retried in order, with Redis killed mid-burst', async () => {
    const engine = new RedisEngine({ url: redis.url, keyPrefix: `po-${nanoid(6)}:`, commandTimeoutMs: 300 });
    const b = await broker({ engine });
    const s = await socket(b.wsUrl);
    const N = 60;
    // Two channels in turn: each publish waits for the one before it to be stored, so most of the
    // burst is still queued on the connection when Redis dies, and is handled after it is back.
    const channel = (i: number): string => (i % 2 === 0 ? 'ord.a' : 'ord.b');
    const frame = (i: number) => ({ type: 'publish', id: i, channel: channel(i), data: i, msgId: `m${i}` });
    const replies = new Map<number, Reply>();
    s.ws.on('message', (d) => {
      const f = JSON.parse(d.toString()) as Reply;
      if (typeof f.id === 'number') replies.set(f.id, f);
    });
    for (let i = 1; i <= 5; i++) s.send(frame(i));
    await s.next((f) => f.type === 'ack' && f.id === 5);
    for (let i = 6; i <= N; i++) s.send(frame(i));
    await killAndWait(redis.process!);
    await new Promise((r) => setTimeout(r, 400));
    await redis.restart();
    await eventually(() => replies.size === N, { message: () => `${replies.size} of ${N} replies`, timeoutMs: 30_000 });
    const failed = [...replies.values()].filter((r) => r.type === 'error');
    expect(failed.length).toBeGreaterThan(0);
    for (const r of failed) expect(['UNAVAILABLE', 'TIMEOUT']).toContain(r.code);

    // The client's part: retry every failed publish, in order, until each is acked.
    for (const id of failed.map((r) => r.id as number).sort((x, y) => x - y)) {
      for (;;) {
        const r = await s.request(frame(id), 10_000);
        if (r.type === 'ack') break;
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    const stored = [
      ...(await engine.read('ord.a', { limit: 1000 })).entries,
      ...(await engine.read('ord.b', { limit: 1000 })).entries,
    ].sort((x, y) => x.time - y.time || x.offset - y.offset);
    // Per channel, offsets are the stored order; across channels each publish was stored after
    // the one before it was acked, so both follow the send order.
    for (const ch of ['ord.a', 'ord.b']) {
      const data = stored.filter((e) => e.channel === ch).map((e) => JSON.parse(e.payload) as number);
      const sent = Array.from({ length: N }, (_, i) => i + 1).filter((i) => channel(i) === ch);
      expect(data, ch).toEqual(sent);
    }
    await b.close();
    await engine.close();
  });
});
