import { describe, expect, it } from 'vitest';
import { broker, socket } from './helpers.js';

describe('publish and subscribe over WebSocket', () => {
  it('greets, acks publishes with per-channel offsets and delivers in order to every subscriber', async () => {
    const b = await broker();
    const pub = await socket(b.wsUrl);
    expect(pub.frames[0]).toMatchObject({ type: 'welcome', version: 1, maxPayloadBytes: 65536 });
    const subs = await Promise.all([socket(b.wsUrl), socket(b.wsUrl)]);
    for (const s of subs) {
      expect(await s.request({ type: 'subscribe', channel: 'chat.lobby' })).toMatchObject({
        type: 'subscribed',
        channel: 'chat.lobby',
        offset: 0,
        pattern: false,
      });
    }
    const acks = [];
    for (let i = 0; i < 20; i++) acks.push(await pub.request({ type: 'publish', channel: 'chat.lobby', data: { i } }));
    expect(acks.map((a) => a.offset)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect((await pub.request({ type: 'publish', channel: 'chat.other', data: 1 })).offset).toBe(1);
    for (const s of subs) {
      await s.next((f) => f.type === 'message' && f.offset === 20);
      const got = s.frames.filter((f) => f.type === 'message');
      expect(got.map((f) => (f.data as { i: number }).i)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(got.every((f) => f.channel === 'chat.lobby' && typeof f.time === 'number')).toBe(true);
    }
  });

  it('delivers through * and > patterns and says which pattern matched', async () => {
    const b = await broker();
    const star = await socket(b.wsUrl);
    const tail = await socket(b.wsUrl);
    await star.request({ type: 'subscribe', channel: 'sensors.*' });
    await tail.request({ type: 'subscribe', channel: 'sensors.>' });
    const pub = await socket(b.wsUrl);
    for (const channel of ['sensors.t1', 'sensors.t1.temp', 'other.t1', 'sensors.t2']) {
      await pub.request({ type: 'publish', channel, data: channel });
    }
    await star.next((f) => f.type === 'message' && f.channel === 'sensors.t2');
    await tail.next((f) => f.type === 'message' && f.channel === 'sensors.t2');
    expect(star.frames.filter((f) => f.type === 'message').map((f) => f.channel)).toEqual(['sensors.t1', 'sensors.t2']);
    expect(tail.frames.filter((f) => f.type === 'message').map((f) => f.channel)).toEqual(['sensors.t1', 'sensors.t1.temp', 'sensors.t2']);
    expect(star.frames.find((f) => f.type === 'message')?.sub).toBe('sensors.*');
  });

  it('stops delivering after unsubscribe and refuses double subscribe and unknown unsubscribe', async () => {
    const b = await broker();
    const s = await socket(b.wsUrl);
    await s.request({ type: 'subscribe', channel: 'a' });
    expect(await s.request({ type: 'subscribe', channel: 'a' })).toMatchObject({ type: 'error', code: 'ALREADY_SUBSCRIBED' });
    expect(await s.request({ type: 'unsubscribe', channel: 'a' })).toMatchObject({ type: 'unsubscribed' });
    expect(await s.request({ type: 'unsubscribe', channel: 'a' })).toMatchObject({ type: 'error', code: 'NOT_SUBSCRIBED' });
    await s.request({ type: 'publish', channel: 'a', data: 'after' });
    await s.request({ type: 'subscribe', channel: 'b' });
    await s.request({ type: 'publish', channel: 'b', data: 'marker' });
    await s.next((f) => f.type === 'message' && f.channel === 'b');
    expect(s.frames.filter((f) => f.type === 'message' && f.channel === 'a')).toHaveLength(0);
  });

  it('stores a retried publish with the same msgId once and says it was a duplicate', async () => {
    const b = await broker();
    const s = await socket(b.wsUrl);
    const first = await s.request({ type: 'publish', channel: 'orders', data: { n: 1 }, msgId: 'order-1' });
    const again = await s.request({ type: 'publish', channel: 'orders', data: { n: 1 }, msgId: 'order-1' });
    expect(first).toMatchObject({ type: 'ack', offset: 1, duplicate: false });
    expect(again).toMatchObject({ type: 'ack', offset: 1, duplicate: true, epoch: first.epoch });
    const h = await s.request({ type: 'history', channel: 'orders' });
    expect(h.messages).toEqual([expect.objectContaining({ offset: 1, data: { n: 1 }, msgId: 'order-1' })]);
  });

  it('answers history with since/limit and the latest N without since', async () => {
    const b = await broker();
    const s = await socket(b.wsUrl);
    for (let i = 1; i <= 10; i++) await s.request({ type: 'publish', channel: 'h', data: i });
    const latest = await s.request({ type: 'history', channel: 'h', limit: 3 });
    expect((latest.messages as Array<{ data: number }>).map((m) => m.data)).toEqual([8, 9, 10]);
    const after = await s.request({ type: 'history', channel: 'h', since: 4, limit: 2 });
    expect(after).toMatchObject({ first: 1, last: 10 });
    expect((after.messages as Array<{ offset: number }>).map((m) => m.offset)).toEqual([5, 6]);
    expect(await s.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
  });
});
