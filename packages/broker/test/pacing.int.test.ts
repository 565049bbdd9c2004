import { describe, expect, it } from 'vitest';
import type { Broker } from '../src/index.js';
import { broker, clientFrame, rawUpgrade, socket } from './helpers.js';
import { brokerContext } from '../src/internal.js';

const KIB = 1024;

async function fill(b: Broker, channel: string, count: number, bytes: number): Promise<void> {
  const s = await socket(b.wsUrl);
  const pad = 'x'.repeat(bytes);
  for (let i = 1; i <= count; i++) s.send({ type: 'publish', id: i, channel, data: { i, pad } });
  await s.next((f) => f.type === 'ack' && f.id === count, 30_000);
}

/** Splits server frames (unmasked, RFC 6455 §5.2) out of raw bytes; the rest stays for later. */
function serverFrames(buf: Buffer): { frames: Array<{ opcode: number; payload: Buffer }>; rest: Buffer } {
  const frames: Array<{ opcode: number; payload: Buffer }> = [];
  let at = 0;
  for (;;) {
    if (buf.length - at < 2) break;
    const b1 = buf[at + 1] as number;
    let len = b1 & 0x7f;
    let head = 2;
    if (len === 126) {
      if (buf.length - at < 4) break;
      len = buf.readUInt16BE(at + 2);
      head = 4;
    } else if (len === 127) {
      if (buf.length - at < 10) break;
      len = Number(buf.readBigUInt64BE(at + 2));
      head = 10;
    }
    if (buf.length - at < head + len) break;
    frames.push({ opcode: (buf[at] as number) & 0x0f, payload: buf.subarray(at + head, at + head + len) });
    at += head + len;
  }
  return { frames, rest: buf.subarray(at) };
}

describe('replies and replays larger than the queue bound', () => {
  it('caps a history reply at maxQueueBytes (at least one message); paging with since reads the rest, with no 4008', async () => {
    const b = await broker({ maxQueueBytes: 256 * KIB });
    await fill(b, 'big', 100, 16 * KIB);
    const s = await socket(b.wsUrl);
    // Without since: the newest messages that fit.
    const latest = await s.request({ type: 'history', channel: 'big', limit: 100 });
    const newest = (latest.messages as Array<{ offset: number }>).map((m) => m.offset);
    expect(newest.length).toBeGreaterThan(0);
    expect(newest.length).toBeLessThan(100);
    expect(newest.at(-1)).toBe(100);
    // With since: the oldest after it that fit; paging on reads everything, in order.
    const all: number[] = [];
    let since = 0;
    while (since < 100) {
      const page = await s.request({ type: 'history', channel: 'big', since, limit: 100 });
      const offsets = (page.messages as Array<{ offset: number }>).map((m) => m.offset);
      expect(JSON.stringify(page).length).toBeLessThan(256 * KIB + 16 * KIB);
      all.push(...offsets);
      since = offsets.at(-1) as number;
    }
    expect(all).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(brokerContext(b).metrics.slowConsumers).toBe(0);
  });

  it('replays a resume many times maxQueueBytes, paced by the reader, with nothing lost', async () => {
    const b = await broker({ maxQueueBytes: 256 * KIB });
    await fill(b, 'log', 1000, 8 * KIB);
    const { epoch } = await brokerContext(b).engine.state('log');
    const s = await socket(b.wsUrl);
    await s.request({ type: 'subscribe', channel: 'log', since: { offset: 0, epoch } }, 30_000);
    const last = await s.next((f) => f.type === 'message' && f.offset === 1000, 30_000);
    expect(last).toMatchObject({ channel: 'log' });
    const offsets = s.frames.filter((f) => f.type === 'message').map((f) => f.offset);
    expect(offsets).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(brokerContext(b).metrics.slowConsumers).toBe(0);
  });
});

describe('slow consumers', () => {
  it('a reader too slow for the queue bound, but reading, gets close code 4008 at the end of its backlog', async () => {
    const b = await broker({ maxQueueBytes: 1024 * KIB });
    const { sock, closed } = await rawUpgrade(b);
    sock.write(clientFrame('{"type":"subscribe","id":1,"channel":"flood"}'));
    // Stop reading, and flood until the broker gives up on this reader.
    sock.pause();
    const pub = await socket(b.wsUrl);
    const pad = 'x'.repeat(16 * KIB);
    let n = 0;
    while (brokerContext(b).metrics.slowConsumers === 0) {
      for (let i = 0; i < 50; i++) pub.send({ type: 'publish', channel: 'flood', data: { n: ++n, pad } });
      await pub.request({ type: 'ping' }, 30_000);
    }
    // Then read slowly, ~100 KB/s, for 2.5 s: the old broker destroyed the socket 2 s after the cut,
    // with the close frame still queued behind the backlog (the reader saw 1006, never 4008). A
    // reader that keeps reading is given the time to reach it; after that, read on at full speed.
    const t0 = Date.now();
    let got = Buffer.alloc(0);
    let ended = false;
    void closed.then(() => (ended = true));
    const hasClose = (): boolean => serverFrames(got).frames.some((f) => f.opcode === 0x8);
    while (!ended && !hasClose()) {
      await new Promise((r) => setTimeout(r, 10));
      const want = Date.now() - t0 < 2500 ? KIB : 64 * KIB;
      const chunk = (sock.read(want) ?? sock.read()) as Buffer | null;
      if (chunk !== null) got = Buffer.concat([got, chunk]);
    }
    for (let c = sock.read() as Buffer | null; c !== null; c = sock.read() as Buffer | null) got = Buffer.concat([got, c]);
    const { frames } = serverFrames(got);
    const close = frames.find((f) => f.opcode === 0x8);
    expect(close, `no close frame in ${got.length} bytes (${frames.length} frames)`).toBeDefined();
    expect(close?.payload.readUInt16BE(0)).toBe(4008);
    // Every message before the close arrived whole and in order.
    const seen = frames
      .filter((f) => f.opcode === 0x1)
      .map((f) => JSON.parse(f.payload.toString()) as { type: string; data?: { n: number } });
    const ns = seen.filter((f) => f.type === 'message').map((f) => f.data?.n);
    expect(ns).toEqual(Array.from({ length: ns.length }, (_, i) => i + 1));
  });
});
