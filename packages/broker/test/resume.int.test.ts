import { describe, expect, it } from 'vitest';
import { broker, socket } from './helpers.js';

type Msg = { type: string; channel: string; offset: number; epoch: string; data: unknown };

describe('resume with since', () => {
  it('replays what was missed, then switches to live with no gap and no duplicate', async () => {
    const b = await broker();
    const pub = await socket(b.wsUrl);
    const first = await socket(b.wsUrl);
    const sub = await first.request({ type: 'subscribe', channel: 'feed' });
    for (let i = 1; i <= 5; i++) await pub.request({ type: 'publish', channel: 'feed', data: i });
    await first.next((f) => f.type === 'message' && f.offset === 5);
    await first.close();

    for (let i = 6; i <= 50; i++) await pub.request({ type: 'publish', channel: 'feed', data: i });
    const again = await socket(b.wsUrl);
    // Keep publishing while the resume replays, so the replay/live switch happens under traffic.
    const publishing = (async () => {
      for (let i = 51; i <= 120; i++) await pub.request({ type: 'publish', channel: 'feed', data: i });
    })();
    const reply = await again.request({ type: 'subscribe', channel: 'feed', since: { offset: 5, epoch: sub.epoch } });
    expect(reply).toMatchObject({ type: 'subscribed', recovered: true, epoch: sub.epoch });
    await publishing;
    await again.next((f) => f.type === 'message' && f.offset === 120);
    const offsets = (again.frames.filter((f) => f.type === 'message') as unknown as Msg[]).map((m) => m.offset);
    expect(offsets).toEqual(Array.from({ length: 115 }, (_, i) => i + 6));
    // The subscribed reply comes before any replayed message.
    const idx = again.frames.findIndex((f) => f.type === 'subscribed');
    expect(again.frames.findIndex((f) => f.type === 'message')).toBeGreaterThan(idx);
  });

  it('says recovered: false when the missed range was trimmed, and delivers from the current position', async () => {
    const b = await broker({}, { retention: { maxLength: 10 } });
    const pub = await socket(b.wsUrl);
    const r = await pub.request({ type: 'publish', channel: 'c', data: 1 });
    for (let i = 2; i <= 30; i++) await pub.request({ type: 'publish', channel: 'c', data: i });
    const s = await socket(b.wsUrl);
    const reply = await s.request({ type: 'subscribe', channel: 'c', since: { offset: 1, epoch: r.epoch } });
    expect(reply).toMatchObject({ type: 'subscribed', recovered: false, offset: 30 });
    await pub.request({ type: 'publish', channel: 'c', data: 31 });
    const m = await s.next((f) => f.type === 'message');
    expect(m).toMatchObject({ offset: 31, data: 31 });
  });

  it('says recovered: false when the epoch changed (history reset)', async () => {
    const b = await broker();
    const pub = await socket(b.wsUrl);
    await pub.request({ type: 'publish', channel: 'c', data: 1 });
    const s = await socket(b.wsUrl);
    const reply = await s.request({ type: 'subscribe', channel: 'c', since: { offset: 1, epoch: 'some-old-epoch' } });
    expect(reply).toMatchObject({ recovered: false, offset: 1 });
  });

  it('refuses since on a pattern (patterns are live-only)', async () => {
    const b = await broker();
    const s = await socket(b.wsUrl);
    const reply = await s.request({ type: 'subscribe', channel: 'a.*', since: { offset: 1, epoch: 'x' } });
    expect(reply).toMatchObject({ type: 'error', code: 'INVALID_FRAME' });
  });
});
