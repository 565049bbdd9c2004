import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Broker } from '../src/index.js';
import { broker, clientFrame, defer, rawUpgrade, socket } from './helpers.js';
import { brokerContext } from '../src/internal.js';

async function deadPeers(b: Broker, reason: string): Promise<number> {
  const m = await brokerContext(b).prom.deadPeers.get();
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
    const welcome = await new Promise<{ clientId: string }>((resolve) =>
      ghost.once('message', (d) => resolve(JSON.parse(d.toString()) as { clientId: string })),
    );
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
