// Edge cases found by a hostile review: false positives and holes in the liveness watcher.
import { MemoryEngine, type StreamEngine } from '@tributary/engine';
import { eventually } from '@tributary/testkit';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { broker, clientFrame, defer, rawUpgrade, sleep, socket, wrapEngine } from './helpers.js';
import { brokerContext } from '../src/internal.js';

const KIB = 1024;
/** A masked pong frame (opcode 0xA), unsolicited: RFC 6455 §5.5.3 allows it. */
function pongFrame(): Buffer {
  return Buffer.from([0x8a, 0x80, 1, 2, 3, 4]);
}

describe('liveness false positives', () => {
  it('does not cut a client whose pong the broker itself left unread (socket paused for backpressure)', async () => {
    const inner = new MemoryEngine();
    // A store that takes 1.5 s per append (Redis under load / failing over within commandTimeoutMs).
    const engine = wrapEngine(inner, {
      append: ((input: Parameters<StreamEngine['append']>[0]) => sleep(1500).then(() => inner.append(input))) as never,
    });
    const b = await broker({ engine, pingIntervalMs: 100, pongTimeoutMs: 400 });
    const s = await socket(b.wsUrl);
    // 300 pipelined publishes: > 256 pending, so the session pauses its socket until appends settle.
    for (let i = 1; i <= 300; i++) s.send({ type: 'publish', id: i, channel: 'p1', data: i });
    const closed = await Promise.race([s.closed, sleep(4000).then(() => undefined)]);
    const acks = s.frames.filter((f) => f.type === 'ack').length;
    expect(closed, 'connection cut while the broker, not the peer, was not reading').toBeUndefined();
    expect(acks).toBe(300);
  });

  it('does not cut a peer whose frames each complete at once but whose reads rarely end on a frame boundary', async () => {
    const b = await broker({ frameTimeoutMs: 300, pingIntervalMs: 60_000 });
    const { sock, closed } = await rawUpgrade(b);
    let pongs = 0;
    sock.on('data', (d: Buffer) => (pongs += d.toString('latin1').split('"pong"').length - 1));
    // A steady stream of complete ping frames; each write carries 1.5 frames, so most reads end
    // mid-frame, but every frame finishes within ~15 ms of its first byte.
    const one = clientFrame(`{"type":"ping","id":"${'x'.repeat(64)}"}`);
    const stream = Buffer.concat(Array.from({ length: 400 }, () => one));
    let at = 0;
    // 1 byte more than a frame per write: a read ends on a frame boundary once every ~100 writes.
    const step = one.length + 1;
    let isClosed = false;
    void closed.then(() => (isClosed = true));
    const t = setInterval(() => {
      if (at >= stream.length) return clearInterval(t);
      sock.write(stream.subarray(at, (at += step)));
    }, 15);
    defer(async () => clearInterval(t));
    await sleep(2000);
    clearInterval(t);
    expect(isClosed, 'cut for "frame timeout" although no frame took more than 15 ms').toBe(false);
  });

  it('does not cut a reader that keeps reading a long replay (ping queued behind the backlog)', async () => {
    const b = await broker({ maxQueueBytes: 1024 * KIB, pingIntervalMs: 1000, pongTimeoutMs: 8000 });
    const pub = await socket(b.wsUrl);
    const pad = 'x'.repeat(16 * KIB);
    for (let i = 1; i <= 1000; i++) pub.send({ type: 'publish', id: i, channel: 'log', data: { i, pad } });
    await pub.next((f) => f.type === 'ack' && f.id === 1000, 30_000);
    const { epoch } = await brokerContext(b).engine.state('log');
    // A ws client (answers pings by itself) on a link of ~1.3 MB/s: one 64 KiB read every 50 ms.
    const ws = new WebSocket(b.wsUrl);
    defer(async () => void ws.terminate());
    let messages = 0;
    let code: number | undefined;
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString()) as { type: string };
      if (f.type === 'message') messages++;
    });
    ws.on('close', (c) => (code = c));
    await new Promise<void>((r) => ws.once('open', () => r()));
    ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel: 'log', since: { offset: 0, epoch } }));
    const raw = (ws as unknown as { _socket: import('node:net').Socket })._socket;
    raw.on('data', () => raw.pause());
    const t = setInterval(() => raw.resume(), 50);
    defer(async () => clearInterval(t));
    await eventually(() => messages >= 1000, {
      message: () => `the whole replay (${messages} of 1000 messages)`,
      timeoutMs: 25_000,
      intervalMs: 100,
      failFast: () => code !== undefined && `a reader that keeps reading was cut (close code ${code})`,
    });
    clearInterval(t);
    expect(code, 'a reader that keeps reading was cut').toBeUndefined();
    expect(messages).toBe(1000);
  }, 40_000);

  it('cuts a peer that never reads, even when it sends unsolicited pongs and live messages pile up during its replay', async () => {
    const b = await broker(
      { maxQueueBytes: 256 * KIB, pingIntervalMs: 100, pongTimeoutMs: 1000, frameTimeoutMs: 300 },
      { retention: { maxLength: 100_000 } },
    );
    const pad = 'x'.repeat(16 * KIB);
    const eng = brokerContext(b).engine;
    for (let i = 1; i <= 1000; i++) await eng.append({ channel: 'log', payload: JSON.stringify({ i, pad }) });
    const { epoch } = await brokerContext(b).engine.state('log');
    const { sock, closed } = await rawUpgrade(b);
    let isClosed = false;
    void closed.then(() => (isClosed = true));
    const sub = JSON.stringify({ type: 'subscribe', id: 1, channel: 'log', since: { offset: 0, epoch } });
    // Frame header for a >125-byte payload.
    const data = Buffer.from(sub);
    const head = Buffer.from([0x81, 0x80 | 126, data.length >> 8, data.length & 0xff, 0, 0, 0, 0]);
    sock.write(Buffer.concat([head, data]));
    sock.pause(); // never read again
    const t = setInterval(() => sock.write(pongFrame()), 50);
    defer(async () => clearInterval(t));
    await sleep(1500);
    // Meanwhile, live traffic on the channel piles up in the Subscription's replay buffer, which
    // no bound covers (maxQueueBytes counts only the socket's queue).
    for (let i = 1; i <= 2000; i++) await eng.append({ channel: 'log', payload: JSON.stringify({ i, pad }) });
    await sleep(3000);
    clearInterval(t);
    expect(isClosed, 'a non-reading peer (4.5 s without reading a byte) is still connected').toBe(true);
  }, 60_000);
});

describe('what one small frame can pin', () => {
  it('holds no more than about maxQueueBytes per peer that requests history and never reads', async () => {
    const b = await broker({ maxQueueBytes: 256 * KIB, pingIntervalMs: 100, pongTimeoutMs: 1000 });
    const pad = 'x'.repeat(60 * KIB);
    for (let i = 1; i <= 1000; i++) await brokerContext(b).engine.append({ channel: 'big', payload: JSON.stringify({ i, pad }) });
    const before = process.memoryUsage().arrayBuffers;
    const socks = [];
    for (let k = 0; k < 4; k++) {
      const { sock } = await rawUpgrade(b);
      sock.pause();
      sock.write(clientFrame('{"type":"history","id":1,"channel":"big","limit":1000}'));
      const t = setInterval(() => sock.write(pongFrame()), 50);
      defer(async () => clearInterval(t));
      socks.push(sock);
    }
    await sleep(4000);
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(grown, 'memory pinned by 4 connections that never read').toBeLessThan(4 * 2 * 256 * KIB + 8 * 2 ** 20);
  }, 60_000);
});
