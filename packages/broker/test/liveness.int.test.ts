import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Broker } from '../src/index.js';
import { broker, defer, socket } from './helpers.js';

/** A WebSocket handshake on a raw TCP socket, so a test can send partial and dribbled frames. */
async function rawUpgrade(b: Broker): Promise<{ sock: Socket; closed: Promise<void> }> {
  const sock = connect(b.port, '127.0.0.1');
  defer(async () => void sock.destroy());
  const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
  sock.on('error', () => {});
  sock.write(`GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:${b.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  await new Promise<void>((resolve, reject) => {
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      sock.off('data', onData);
      if (head.startsWith('HTTP/1.1 101')) resolve();
      else reject(new Error(head));
    };
    sock.on('data', onData);
  });
  return { sock, closed };
}

/** A masked client text frame (RFC 6455 §5.3) of `payload`, `fin` false for a first fragment. */
function clientFrame(payload: string, fin = true): Buffer {
  const data = Buffer.from(payload);
  if (data.length >= 126) throw new Error('short frames only');
  const mask = Buffer.from([1, 2, 3, 4]);
  const out = Buffer.alloc(6 + data.length);
  out[0] = (fin ? 0x80 : 0) | 0x1;
  out[1] = 0x80 | data.length;
  mask.copy(out, 2);
  for (let i = 0; i < data.length; i++) out[6 + i] = (data[i] as number) ^ (mask[i % 4] as number);
  return out;
}

async function deadPeers(b: Broker, reason: string): Promise<number> {
  const m = await b.context.prom.deadPeers.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe('dead peers are cut', () => {
  it('closes a connection that stops answering pings, and its presence leaves with it', async () => {
    const b = await broker({ pingIntervalMs: 100, pongTimeoutMs: 150 });
    const watcher = await socket(b.wsUrl);
    await watcher.request({ type: 'subscribe', channel: 'room', presence: true });
    // A peer whose network vanished: it never answers a ping.
    const ghost = new WebSocket(b.wsUrl, { autoPong: false });
    defer(async () => void ghost.terminate());
    const ghostClosed = new Promise<void>((resolve) => ghost.on('close', () => resolve()));
    const welcome = await new Promise<{ clientId: string }>((resolve) => ghost.once('message', (d) => resolve(JSON.parse(d.toString()) as { clientId: string })));
    ghost.send(JSON.stringify({ type: 'subscribe', channel: 'room', presence: true }));
    await watcher.next((f) => f.type === 'join' && (f.member as { clientId: string }).clientId === welcome.clientId);
    await watcher.next((f) => f.type === 'leave' && (f.member as { clientId: string }).clientId === welcome.clientId);
    await ghostClosed;
    expect(await deadPeers(b, 'pong timeout')).toBe(1);
    const r = await watcher.request({ type: 'presence', channel: 'room' });
    expect((r.members as Array<{ clientId: string }>).map((m) => m.clientId)).toEqual([watcher.frames[0]?.clientId]);
  });

  it('keeps a connection that answers its pings', async () => {
    const b = await broker({ pingIntervalMs: 50, pongTimeoutMs: 100 });
    const s = await socket(b.wsUrl);
    let pings = 0;
    s.ws.on('ping', () => pings++);
    await new Promise<void>((resolve) => {
      const t = setInterval(() => pings >= 6 && (clearInterval(t), resolve()), 10);
    });
    expect(s.ws.readyState).toBe(WebSocket.OPEN);
    expect(await s.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
  });

  it('cuts a peer that holds a frame one byte short of complete', async () => {
    const b = await broker({ frameTimeoutMs: 200 });
    const { sock, closed } = await rawUpgrade(b);
    const frame = clientFrame('{"type":"ping","id":1}');
    sock.write(frame.subarray(0, frame.length - 1));
    await closed;
    expect(await deadPeers(b, 'frame timeout')).toBe(1);
  });

  it('cuts a peer that dribbles a frame a byte at a time past the deadline', async () => {
    const b = await broker({ frameTimeoutMs: 300 });
    const { sock, closed } = await rawUpgrade(b);
    const frame = clientFrame(`{"type":"publish","channel":"a","data":"${'x'.repeat(80)}"}`);
    let i = 0;
    // 20 ms a byte: the frame would take ~2 s, the deadline is 300 ms.
    const t = setInterval(() => (i < frame.length ? sock.write(frame.subarray(i, ++i)) : clearInterval(t)), 20);
    defer(async () => clearInterval(t));
    await closed;
    clearInterval(t);
    expect(i).toBeLessThan(frame.length);
    expect(await deadPeers(b, 'frame timeout')).toBe(1);
  });

  it('cuts a peer that starts a fragmented message and never sends its last fragment', async () => {
    const b = await broker({ frameTimeoutMs: 200 });
    const { sock, closed } = await rawUpgrade(b);
    sock.write(clientFrame('{"type":', false));
    await closed;
    expect(await deadPeers(b, 'frame timeout')).toBe(1);
  });

  it('does not cut a peer whose frames complete, however many arrive', async () => {
    const b = await broker({ frameTimeoutMs: 250 });
    const { sock } = await rawUpgrade(b);
    const replies: string[] = [];
    sock.on('data', (d) => replies.push(d.toString('latin1')));
    const frame = clientFrame('{"type":"ping","id":1}');
    // Each frame arrives in two halves 60 ms apart: the connection lives past the deadline many
    // times over, but no frame stays open for as long as it.
    for (let n = 0; n < 10; n++) {
      sock.write(frame.subarray(0, 5));
      await new Promise((r) => setTimeout(r, 60));
      sock.write(frame.subarray(5));
    }
    await new Promise((r) => setTimeout(r, 150));
    expect(sock.destroyed).toBe(false);
    expect(replies.join('').match(/"pong"/g)?.length).toBe(10);
  });
});
