import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually } from '@tributary/testkit';
import { ErrorCodes, TributaryClient, TributaryError, type PresenceEvent } from '../src/index.js';
import { client, collector, range, TestBroker } from './helpers.js';

describe('publish and subscribe', () => {
  it('acks a publish with its offset, epoch and generated msgId', async () => {
    const b = await TestBroker.start();
    const c = client(b.wsUrl);
    await c.connect();
    expect(c.state).toBe('connected');
    const a1 = await c.publish('chat.room1', { text: 'hi' });
    const a2 = await c.publish('chat.room1', { text: 'again' });
    expect(a1).toMatchObject({ channel: 'chat.room1', offset: 1, duplicate: false });
    expect(a2).toMatchObject({ offset: 2, epoch: a1.epoch, duplicate: false });
    expect(a1.msgId).toMatch(/^[0-9a-f-]{36}$/);
    expect(a1.msgId).not.toBe(a2.msgId);
  });

  it('stores a publish repeated with the same msgId once', async () => {
    const b = await TestBroker.start();
    const c = client(b.wsUrl);
    await c.connect();
    const first = await c.publish('orders', { n: 1 }, { msgId: 'order-1' });
    const again = await c.publish('orders', { n: 1 }, { msgId: 'order-1' });
    expect(again).toMatchObject({ offset: first.offset, duplicate: true, msgId: 'order-1' });
    const h = await c.history('orders');
    expect(h.messages).toHaveLength(1);
  });

  it('delivers messages in order, with their metadata, and tracks the position', async () => {
    const b = await TestBroker.start();
    const pub = client(b.wsUrl);
    const sub = client(b.wsUrl);
    await Promise.all([pub.connect(), sub.connect()]);
    const got = collector<number>();
    const s = await sub.subscribe<number>('feed', got.handler);
    expect(s).toMatchObject({ channel: 'feed', pattern: false, active: true });
    expect(s.position?.offset).toBe(0);
    const acks = [];
    for (let i = 1; i <= 50; i++) acks.push(pub.publish('feed', i));
    const last = (await Promise.all(acks)).at(-1);
    await eventually(() => got.messages.length === 50, { message: '50 messages' });
    expect(got.data()).toEqual(range(1, 50));
    expect(got.offsets()).toEqual(range(1, 50));
    expect(got.messages[0]).toMatchObject({ channel: 'feed', epoch: last?.epoch, msgId: expect.any(String) });
    expect(got.messages[0]?.time).toBeTypeOf('number');
    expect(s.position).toEqual({ offset: 50, epoch: last?.epoch });
  });

  it('replays from since on the first subscribe and reports recovered: true', async () => {
    const b = await TestBroker.start();
    const c = client(b.wsUrl);
    await c.connect();
    let epoch = '';
    for (let i = 1; i <= 10; i++) epoch = (await c.publish('log', i)).epoch;
    const got = collector<number>();
    const recoveries: unknown[] = [];
    await c.subscribe('log', got.handler, { since: { offset: 4, epoch }, onRecovery: (r) => recoveries.push(r) });
    await eventually(() => got.messages.length === 6, { message: 'replayed messages' });
    expect(got.data()).toEqual(range(5, 10));
    expect(recoveries).toEqual([{ channel: 'log', pattern: false, recovered: true, position: { offset: 4, epoch }, resubscribed: false }]);
  });

  it('delivers pattern matches with the pattern they came through', async () => {
    const b = await TestBroker.start();
    const c = client(b.wsUrl);
    await c.connect();
    const got = collector();
    const s = await c.subscribe('sensors.*', got.handler);
    expect(s.pattern).toBe(true);
    expect(s.position).toBeUndefined();
    await c.publish('sensors.t1', 1);
    await c.publish('sensors.t1.deep', 2);
    await c.publish('sensors.t2', 3);
    await eventually(() => got.messages.length === 2, { message: 'pattern matches' });
    expect(got.messages.map((m) => [m.channel, m.data, m.pattern])).toEqual([
      ['sensors.t1', 1, 'sensors.*'],
      ['sensors.t2', 3, 'sensors.*'],
    ]);
  });

  it('stops delivery after unsubscribe and allows subscribing again', async () => {
    const b = await TestBroker.start();
    const c = client(b.wsUrl);
    await c.connect();
    const got = collector();
    const s = await c.subscribe('news', got.handler);
    await c.publish('news', 1);
    await eventually(() => got.messages.length === 1, { message: 'first message' });
    await s.unsubscribe();
    expect(s.closed).toBe(true);
    await c.publish('news', 2);
    const again = collector();
    await c.subscribe('news', again.handler);
    await c.publish('news', 3);
    await eventually(() => again.messages.length === 1, { message: 'message after re-subscribe' });
    expect(got.data()).toEqual([1]);
    expect(again.data()).toEqual([3]);
  });

  it('reads history and presence, and emits join/leave events', async () => {
    const b = await TestBroker.start();
    const a = client(b.wsUrl);
    const other = client(b.wsUrl);
    await Promise.all([a.connect(), other.connect()]);
    for (let i = 1; i <= 5; i++) await a.publish('room', { i });
    const h = await a.history<{ i: number }>('room', { since: 2, limit: 2 });
    expect(h).toMatchObject({ channel: 'room', first: 1, last: 5 });
    expect(h.messages.map((m) => [m.offset, m.data.i, m.channel, m.epoch])).toEqual([
      [3, 3, 'room', h.epoch],
      [4, 4, 'room', h.epoch],
    ]);

    const events: PresenceEvent[] = [];
    const fromOption: PresenceEvent[] = [];
    a.on('presence', (e) => events.push(e));
    await a.subscribe('room', () => {}, { presence: true, onPresence: (e) => fromOption.push(e) });
    const s2 = await other.subscribe('room', () => {}, { presence: true });
    await eventually(async () => (await a.presence('room')).length === 2, { message: 'two members' });
    await eventually(() => events.some((e) => e.type === 'join' && e.member.clientId === other.clientId), { message: 'join event' });
    await s2.unsubscribe();
    await eventually(() => events.some((e) => e.type === 'leave' && e.member.clientId === other.clientId), { message: 'leave event' });
    expect(fromOption.length).toBe(events.length);
    expect(await a.presence('room')).toEqual([expect.objectContaining({ clientId: a.clientId })]);
  });

  it('reports a throwing handler as an error event and keeps delivering', async () => {
    const b = await TestBroker.start();
    const c = client(b.wsUrl);
    await c.connect();
    const errors: TributaryError[] = [];
    c.on('error', (e) => errors.push(e));
    const seen: number[] = [];
    await c.subscribe<number>('x', (m) => {
      seen.push(m.data);
      if (m.data === 1) throw new Error('boom');
    });
    await c.publish('x', 1);
    await c.publish('x', 2);
    await eventually(() => seen.length === 2, { message: 'both messages' });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: ErrorCodes.INTERNAL, channel: 'x' });
    expect((errors[0]?.cause as Error).message).toBe('boom');
  });

  it('accepts an injected WebSocket constructor and a broker base URL', async () => {
    const b = await TestBroker.start();
    let constructed = 0;
    class Counting extends WebSocket {
      constructor(url: string) {
        super(url);
        constructed++;
      }
    }
    const base = b.wsUrl.replace('ws://', 'http://').replace('/v1/ws', '');
    const c = client(base, { WebSocket: Counting });
    await c.connect();
    expect(constructed).toBe(1);
    expect((await c.ping()).rttMs).toBeGreaterThanOrEqual(0);
  });
});

describe('request errors', () => {
  it('rejects bad names locally with the code the broker would send', async () => {
    const b = await TestBroker.start();
    const c = client(b.wsUrl);
    await c.connect();
    await expect(c.publish('bad name', 1)).rejects.toMatchObject({ code: ErrorCodes.INVALID_CHANNEL });
    await expect(c.publish('a.*', 1)).rejects.toMatchObject({ code: ErrorCodes.INVALID_CHANNEL });
    await expect(c.subscribe('a.*', () => {}, { since: { offset: 1, epoch: 'e' } })).rejects.toMatchObject({
      code: ErrorCodes.INVALID_FRAME,
    });
    await c.subscribe('dup', () => {});
    await expect(c.subscribe('dup', () => {})).rejects.toMatchObject({ code: ErrorCodes.ALREADY_SUBSCRIBED });
  });

  it('refuses data over the broker limit with PAYLOAD_TOO_LARGE', async () => {
    const b = await TestBroker.start({ maxPayloadBytes: 1024 });
    const c = client(b.wsUrl);
    await c.connect();
    expect(c.maxPayloadBytes).toBe(1024);
    const err = await c.publish('big', 'x'.repeat(2000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TributaryError);
    expect(err).toMatchObject({ code: ErrorCodes.PAYLOAD_TOO_LARGE, channel: 'big' });
    expect((await c.publish('big', 'small')).offset).toBe(1);
  });

  it('times out requests that wait for a connection that never comes', async () => {
    const b = await TestBroker.start();
    const c = client(b.wsUrl, { requestTimeoutMs: 200, waitOnFirstConnect: true });
    await c.connect();
    await b.stop();
    await eventually(() => c.state !== 'connected', { message: 'disconnect' });
    const err = await c.publish('c', 1).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.TIMEOUT, channel: 'c' });
  });

  it('rejects pending requests and subscribes with CLOSED on close()', async () => {
    const b = await TestBroker.start();
    const c = client(b.wsUrl);
    await c.connect();
    await b.stop();
    await eventually(() => c.state !== 'connected', { message: 'disconnect' });
    const p = c.publish('c', 1);
    const s = c.subscribe('c', () => {});
    await c.close();
    expect(c.state).toBe('closed');
    await expect(p).rejects.toMatchObject({ code: ErrorCodes.CLOSED });
    await expect(s).rejects.toMatchObject({ code: ErrorCodes.CLOSED });
    await expect(c.publish('c', 2)).rejects.toMatchObject({ code: ErrorCodes.CLOSED });
    await expect(c.connect()).rejects.toMatchObject({ code: ErrorCodes.CLOSED });
  });

  it('rejects connect() when the first attempt fails', async () => {
    const b = await TestBroker.start();
    const url = b.wsUrl;
    await b.stop();
    const c = new TributaryClient({ url, connectTimeoutMs: 2000 });
    await expect(c.connect()).rejects.toMatchObject({ code: ErrorCodes.CLOSED });
    expect(c.state).toBe('idle');
    await c.close();
  });
});
