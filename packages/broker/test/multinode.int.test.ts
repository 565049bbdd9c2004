import { RedisEngine } from '@tributary/engine/redis';
import { eventually, startRedis, startRedisCluster, type RedisServer } from '@tributary/testkit';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/index.js';
import { broker, SECRET, socket } from './helpers.js';

let redis: RedisServer;
const engines: RedisEngine[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.allSettled(engines.map((e) => e.close()));
  await redis.stop();
});

/** A broker with its own RedisEngine (as a separate process would have) on the shared server. */
async function node(prefix: string) {
  const engine = new RedisEngine({ url: redis.url, keyPrefix: prefix });
  engines.push(engine);
  return broker({ engine });
}

describe('brokers sharing one Redis', () => {
  it('fans out across nodes: patterns, exact channels and presence joins/leaves', async () => {
    const prefix = `t${Date.now()}:`;
    const a = await node(prefix);
    const b = await node(prefix);
    const onA = await socket(a.wsUrl);
    await onA.request({ type: 'subscribe', channel: 'room.1', presence: true });
    await onA.request({ type: 'subscribe', channel: 'sensors.>' });
    const onB = await socket(b.wsUrl);
    await onB.request({ type: 'subscribe', channel: 'room.1', presence: true });
    const joined = await onA.next((f) => f.type === 'join' && (f.member as { node: string }).node === b.nodeId);
    expect(joined).toMatchObject({ channel: 'room.1' });

    for (let i = 1; i <= 20; i++) await onB.request({ type: 'publish', channel: 'room.1', data: i });
    await onB.request({ type: 'publish', channel: 'sensors.d1.temp', data: 21.5 });
    await onA.next((f) => f.type === 'message' && f.channel === 'sensors.d1.temp');
    const got = onA.frames.filter((f) => f.type === 'message' && f.channel === 'room.1').map((f) => f.data);
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));

    const here = await onA.request({ type: 'presence', channel: 'room.1' });
    expect((here.members as Array<{ node: string }>).map((m) => m.node).sort()).toEqual([a.nodeId, b.nodeId].sort());
    await onB.close();
    expect(await onA.next((f) => f.type === 'leave')).toMatchObject({ member: { node: b.nodeId } });
  });
});

describe('pipelined publishes on Redis', () => {
  it('stores one connection’s publishes in send order across channels', async () => {
    const b = await node(`o${Date.now()}:`);
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

  it('stores a burst sent without waiting for acks in send order, acks each, and a history right after sees all', async () => {
    const prefix = `p${Date.now()}:`;
    const a = await node(prefix);
    const b = await node(prefix);
    const sub = await socket(b.wsUrl);
    await sub.request({ type: 'subscribe', channel: 'burst' });
    const pub = await socket(a.wsUrl);
    // 300 publishes in one write burst, interleaved with a second channel; then a history request,
    // which must wait for them to be stored.
    for (let i = 1; i <= 300; i++) pub.send({ type: 'publish', id: `p${i}`, channel: i % 2 === 0 ? 'burst' : 'other', data: i });
    const history = await pub.request({ type: 'history', channel: 'burst', limit: 1000 });
    expect((history.messages as Array<{ data: number }>).map((m) => m.data)).toEqual(evens(300));
    const acks = pub.frames.filter((f) => f.type === 'ack');
    expect(acks).toHaveLength(300);
    const burstAcks = acks.filter((f) => f.channel === 'burst');
    expect(burstAcks.map((f) => f.offset)).toEqual(evens(300).map((_, i) => i + 1));
    expect(burstAcks.map((f) => f.id)).toEqual(evens(300).map((i) => `p${i}`));
    await sub.next((f) => f.type === 'message' && f.offset === 150);
    expect(sub.frames.filter((f) => f.type === 'message').map((f) => f.data)).toEqual(evens(300));
  });
});

describe('publishes alternating channels, pipelined on Redis', () => {
  it('keeps each connection’s send order across channels and answers in request order, while connections contend for the same channels', async () => {
    await checkRoundRobinOrder(await node(`rr${Date.now()}:`), true);
  });

  it('stores in send order on a Redis Cluster too, where channels live on different shards (a publish to another channel waits there)', async () => {
    const cluster = await startRedisCluster();
    try {
      const engine = new RedisEngine({ cluster: { nodes: cluster.nodes }, keyPrefix: `rrc${Date.now()}:` });
      engines.push(engine);
      expect(engine.ordersAcrossChannels).toBe(false);
      await checkRoundRobinOrder(await broker({ engine }), false);
    } finally {
      await cluster.stop();
    }
  });
});

/** Five connections publish round-robin over five channels without waiting for acks; a `rr.>` subscriber checks each one's order. */
async function checkRoundRobinOrder(b: Awaited<ReturnType<typeof broker>>, crossChannelDelivery: boolean): Promise<void> {
  const sub = await socket(b.wsUrl);
  await sub.request({ type: 'subscribe', channel: 'rr.>' });
  // A gateway's shape: each connection publishes round-robin over the same five channels without
  // waiting for acks, so its appends queue behind other connections' batches on every channel.
  const PUBLISHERS = 5;
  const EACH = 200;
  const pubs = await Promise.all(Array.from({ length: PUBLISHERS }, () => socket(b.wsUrl)));
  pubs.forEach((pub, p) => {
    for (let i = 0; i < EACH; i++) pub.send({ type: 'publish', id: i, channel: `rr.${i % 5}`, data: { p, i } });
  });
  for (const pub of pubs) await pub.next((f) => f.type === 'ack' && f.id === EACH - 1, 30_000);
  for (const pub of pubs) {
    const replies = pub.frames.filter((f) => f.type === 'ack' || f.type === 'error');
    expect(replies.map((f) => f.type)).toEqual(Array(EACH).fill('ack'));
    expect(replies.map((f) => f.id)).toEqual(Array.from({ length: EACH }, (_, i) => i));
  }
  await eventually(() => sub.frames.filter((f) => f.type === 'message').length === PUBLISHERS * EACH, {
    message: 'every message delivered',
    timeoutMs: 30_000,
  });
  const messages = sub.frames.filter((f) => f.type === 'message');
  const seen = messages.map((f) => ({ ...(f.data as { p: number; i: number }), channel: f.channel as string, time: f.time as number }));
  for (let p = 0; p < PUBLISHERS; p++) {
    const mine = seen.filter((d) => d.p === p);
    // Stored in send order across channels: stored times never go back in send order.
    const times = [...mine].sort((x, y) => x.i - y.i).map((d) => d.time);
    expect(times).toEqual([...times].sort((x, y) => x - y));
    for (let c = 0; c < 5; c++) {
      const sent = Array.from({ length: EACH }, (_, i) => i).filter((i) => i % 5 === c);
      expect(mine.filter((d) => d.channel === `rr.${c}`).map((d) => d.i)).toEqual(sent);
    }
    // Across channels the subscriber sees that same order where one connection carries every
    // channel's notifications (one server); a Cluster's shards each send their own.
    if (crossChannelDelivery) expect(mine.map((d) => d.i)).toEqual(Array.from({ length: EACH }, (_, i) => i));
  }
}

function evens(n: number): number[] {
  return Array.from({ length: n / 2 }, (_, i) => 2 * (i + 1));
}

describe('reads on Redis', () => {
  it('create no key for channels nobody wrote (history, subscribe, presence, by a read-only token)', async () => {
    const engine = new RedisEngine({ url: redis.url, keyPrefix: `r${Date.now()}:` });
    engines.push(engine);
    const b = await broker({ engine, auth: { secret: SECRET } });
    const token = await createToken({ secret: SECRET, grants: { '>': ['subscribe', 'history', 'presence'] } });
    const s = await socket(`${b.wsUrl}?token=${token}`);
    const before = await dbsize();
    for (let i = 0; i < 200; i++) {
      const channel = `never.${i}`;
      await s.request({ type: 'history', channel });
      await s.request({ type: 'presence', channel });
      await s.request({ type: 'subscribe', channel });
      await s.request({ type: 'unsubscribe', channel });
      await fetch(`${b.url}/v1/channels/${channel}/messages`, { headers: { authorization: `Bearer ${token}` } });
    }
    expect(await dbsize()).toBe(before);
  });
});

/** DBSIZE over a raw connection (tests of this file run one at a time on its own Redis). */
function dbsize(): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = connect(redis.port, '127.0.0.1', () => c.write('DBSIZE\r\n'));
    c.on('data', (d) => {
      c.destroy();
      resolve(Number(/^:(\d+)/.exec(d.toString())?.[1] ?? Number.NaN));
    });
    c.on('error', reject);
  });
}
