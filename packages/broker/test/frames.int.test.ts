import { describe, expect, it } from 'vitest';
import { broker, socket } from './helpers.js';

describe('message frames', () => {
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
