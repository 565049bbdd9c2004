import { describe, expect, it } from 'vitest';
import { broker, socket } from './helpers.js';

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
    expect(b.context.metrics.slowConsumers).toBe(1);
  });
});
