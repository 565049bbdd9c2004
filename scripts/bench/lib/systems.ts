import { io as ioClient, type Socket } from 'socket.io-client';
import WebSocket from 'ws';

/**
 * One connection of the load generator to a system under test. Each system gets an adapter with
 * the same four operations, so the load generator (fanout.ts) is the same code for all of them.
 */
export interface BenchConnection {
  /** Resolves once the system confirmed the subscription (the next publish will reach it). */
  subscribe(channel: string): Promise<void>;
  /** Fire and forget. */
  publish(channel: string, payload: Payload): void;
  /** Called with every message delivered to this connection. */
  onMessage(listener: (channel: string, payload: Payload) => void): void;
  close(): void;
}

/** The benchmark message: `t` is the publisher's clock (µs, performance.now()), `s` a sequence number. */
export interface Payload {
  t: number;
  s: number;
  pad: string;
}

/** A system under test: how to open a connection to one of its nodes. */
export interface BenchSystem {
  readonly name: string;
  connect(url: string): Promise<BenchConnection>;
}

/** Opens a `ws` client (no compression: every server here has it off) and waits for it to open. */
function openWs(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Tributary over its wire protocol (docs/PROTOCOL.md), with a bare `ws` client. */
export const tributary = (name: string): BenchSystem => ({
  name,
  async connect(url) {
    const ws = await openWs(`${url}/v1/ws`);
    ws.on('error', () => {});
    let listener: (channel: string, payload: Payload) => void = () => {};
    const waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
    let nextId = 1;
    ws.on('message', (raw) => {
      const f = JSON.parse(String(raw)) as { type: string; id?: number; channel?: string; data?: Payload; message?: string };
      if (f.type === 'message') listener(f.channel as string, f.data as Payload);
      else if (f.type === 'subscribed' && f.id !== undefined) waiting.get(f.id)?.resolve();
      else if (f.type === 'error') {
        if (f.id !== undefined && waiting.has(f.id)) waiting.get(f.id)?.reject(new Error(f.message));
        else process.stderr.write(`tributary error frame: ${String(raw)}\n`);
      }
    });
    ws.on('close', (code) => {
      if (code !== 1000 && code !== 1005) process.stderr.write(`tributary connection closed with ${code}\n`);
    });
    return {
      subscribe(channel) {
        const id = nextId++;
        return new Promise<void>((resolve, reject) => {
          waiting.set(id, { resolve, reject });
          ws.send(JSON.stringify({ type: 'subscribe', id, channel }));
        }).finally(() => waiting.delete(id));
      },
      publish(channel, payload) {
        ws.send(JSON.stringify({ type: 'publish', channel, data: payload }));
      },
      onMessage(l) {
        listener = l;
      },
      close() {
        ws.close(1000);
      },
    };
  },
});

/** Socket.IO 4: rooms per channel, `pub` re-emitted by the server with io.to(room).emit. */
export const socketIo = (name: string): BenchSystem => ({
  name,
  connect(url) {
    return new Promise((resolve, reject) => {
      const socket: Socket = ioClient(url, { transports: ['websocket'], reconnection: false, forceNew: true });
      socket.once('connect_error', reject);
      socket.once('connect', () =>
        resolve({
          subscribe: (channel) => new Promise<void>((done) => socket.emit('join', channel, () => done())),
          publish: (channel, payload) => socket.emit('pub', channel, payload),
          onMessage: (l) => socket.on('m', l),
          close: () => socket.close(),
        }),
      );
    });
  },
});

/** The raw `ws` broadcast server (servers/rawws.ts). */
export const rawWs = (name: string): BenchSystem => ({
  name,
  async connect(url) {
    const ws = await openWs(url);
    ws.on('error', () => {});
    let listener: (channel: string, payload: Payload) => void = () => {};
    const waiting = new Map<string, () => void>();
    ws.on('message', (raw) => {
      const f = JSON.parse(String(raw)) as { c?: string; d?: Payload; subscribed?: string };
      if (f.c !== undefined) listener(f.c, f.d as Payload);
      else if (f.subscribed !== undefined) waiting.get(f.subscribed)?.();
    });
    return {
      subscribe: (channel) =>
        new Promise<void>((resolve) => {
          waiting.set(channel, resolve);
          ws.send(JSON.stringify({ sub: channel }));
        }),
      publish: (channel, payload) => ws.send(JSON.stringify({ pub: channel, data: payload })),
      onMessage(l) {
        listener = l;
      },
      close: () => ws.close(1000),
    };
  },
});
