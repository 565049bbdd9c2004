import { describe, expect, it } from 'vitest';
import { broker, socket } from './helpers.js';
import { brokerContext } from '../src/internal.js';

describe('slow consumers', () => {
  it('closes a subscriber that stops reading with 4008 while the others get every message', async () => {
    const b = await broker({ maxQueueBytes: 256 * 1024 });
    const slow = await socket(b.wsUrl);
    const fast = await socket(b.wsUrl);
    await slow.request({ type: 'subscribe', channel: 'firehose' });
    await fast.request({ type: 'subscribe', channel: 'firehose' });
    slow.ws.pause(); // stops reading its socket: the broker's queue for it fills up
    const pub = await socket(b.wsUrl);
    const data = 'x'.repeat(32 * 1024);
    const total = 600; // ~19 MiB: more than loopback socket buffers can hide
    for (let i = 1; i <= total; i++) await pub.request({ type: 'publish', channel: 'firehose', data });
    await fast.next((f) => f.type === 'message' && f.offset === total, 20_000);
    expect(fast.frames.filter((f) => f.type === 'message')).toHaveLength(total);
    slow.ws.resume();
    expect((await slow.closed).code).toBe(4008);
    expect(brokerContext(b).metrics.slowConsumers).toBe(1);
  });
});

describe('write coalescing', () => {
  it('with writeCoalesceMs still delivers every message once, in order, to every subscriber', async () => {
    const b = await broker({ writeCoalesceMs: 5 });
    const subs = await Promise.all([socket(b.wsUrl), socket(b.wsUrl)]);
    for (const s of subs) await s.request({ type: 'subscribe', channel: 'd' });
    const pub = await socket(b.wsUrl);
    for (let i = 1; i <= 50; i++) pub.send({ type: 'publish', channel: 'd', data: i });
    for (const s of subs) {
      await s.next((f) => f.type === 'message' && f.offset === 50);
      expect(s.frames.filter((f) => f.type === 'message').map((f) => f.data)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    }
  });

  it('refuses a coalescing window outside 0–100 ms', async () => {
    await expect(broker({ writeCoalesceMs: 500 })).rejects.toThrow(/writeCoalesceMs/);
    // The option it replaced is refused by name, not silently ignored.
    await expect(broker({ writeDelayMs: 1 } as Parameters<typeof broker>[0])).rejects.toThrow(/replaced by writeCoalesceMs/);
  });
});
