/**
 * The load generator's view of a system in the traffic-shapes benchmark (shapes.ts): besides
 * subscribe and publish (as in systems.ts), unsubscribe, presence and patterns. One adapter per
 * system, so every shape drives Tributary and Socket.IO through the same code.
 */
import { io as ioClient, type Socket } from 'socket.io-client';
import WebSocket from 'ws';

/**
 * The benchmark message. `t` is the publisher's CLOCK_MONOTONIC in µs ({@link nowUs}), which every
 * thread and process on the machine shares, so a subscriber in another thread can subtract it;
 * `k` is the publisher's key (whose closed-loop window the delivery counts toward).
 */
export interface ShapeMessage {
  t: number;
  k: number;
  pad: string;
}

/** CLOCK_MONOTONIC in µs (process.hrtime is system-wide, unlike performance.now()'s per-thread origin). */
export function nowUs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e6 + ns / 1e3;
}

/** One connection of the load generator. */
export interface ShapeConnection {
  /** A channel or (Tributary) pattern; resolves once the system confirmed it. */
  subscribe(channel: string, presence?: boolean): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  /** How many members the system lists on `channel` (Tributary `presence`, Socket.IO fetchSockets). */
  presenceCount(channel: string): Promise<number>;
  /** Fire and forget. */
  publish(channel: string, data: ShapeMessage): void;
  onMessage(listener: (data: ShapeMessage) => void): void;
  /** A join or leave of another member reached this connection. */
  onPresence(listener: () => void): void;
  close(): void;
}

/** Which adapter a load-generator thread uses. */
export type ClientKind = 'tributary' | 'socketio';

export function connectShape(kind: ClientKind, url: string): Promise<ShapeConnection> {
  return kind === 'tributary' ? connectTributary(url) : connectSocketIo(url);
}

interface Reply {
  type: string;
  id?: number;
  data?: ShapeMessage;
  members?: unknown[];
  message?: string;
}

/** Tributary over its wire protocol (docs/PROTOCOL.md) with a bare `ws` client. */
async function connectTributary(url: string): Promise<ShapeConnection> {
  const ws = await new Promise<WebSocket>((resolve, reject) => {
    const s = new WebSocket(`${url}/v1/ws`, { perMessageDeflate: false });
    s.once('open', () => resolve(s));
    s.once('error', reject);
  });
  ws.on('error', () => {});
  let onMessage: (d: ShapeMessage) => void = () => {};
  let onPresence: () => void = () => {};
  const waiting = new Map<number, { resolve: (f: Reply) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  ws.on('message', (raw) => {
    const f = JSON.parse(String(raw)) as Reply;
    if (f.type === 'message') onMessage(f.data as ShapeMessage);
    else if (f.type === 'join' || f.type === 'leave') onPresence();
    else if (f.id !== undefined && waiting.has(f.id)) {
      const w = waiting.get(f.id);
      waiting.delete(f.id);
      if (f.type === 'error') w?.reject(new Error(f.message));
      else w?.resolve(f);
    } else if (f.type === 'error') process.stderr.write(`tributary error frame: ${String(raw)}\n`);
  });
  const request = (frame: Record<string, unknown>): Promise<Reply> => {
    const id = nextId++;
    return new Promise<Reply>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      ws.send(JSON.stringify({ ...frame, id }));
    });
  };
  return {
    subscribe: async (channel, presence) => {
      await request(presence === true ? { type: 'subscribe', channel, presence: true } : { type: 'subscribe', channel });
    },
    unsubscribe: async (channel) => {
      await request({ type: 'unsubscribe', channel });
    },
    presenceCount: async (channel) => (await request({ type: 'presence', channel })).members?.length ?? 0,
    publish: (channel, data) => ws.send(JSON.stringify({ type: 'publish', channel, data })),
    onMessage: (l) => {
      onMessage = l;
    },
    onPresence: (l) => {
      onPresence = l;
    },
    close: () => ws.close(1000),
  };
}

/** Socket.IO 4 against servers/socketio-shapes.ts (rooms; see there for what each event maps to). */
function connectSocketIo(url: string): Promise<ShapeConnection> {
  return new Promise((resolve, reject) => {
    const socket: Socket = ioClient(url, { transports: ['websocket'], reconnection: false, forceNew: true });
    socket.once('connect_error', reject);
    socket.once('connect', () =>
      resolve({
        subscribe: (channel, presence) => new Promise<void>((done) => socket.emit('join', channel, presence === true, () => done())),
        unsubscribe: (channel) => new Promise<void>((done) => socket.emit('leave', channel, () => done())),
        presenceCount: (channel) => new Promise<number>((done) => socket.emit('presence', channel, (n: number) => done(n))),
        publish: (channel, data) => socket.emit('pub', channel, data),
        onMessage: (l) => socket.on('m', (_room: string, d: ShapeMessage) => l(d)),
        onPresence: (l) => {
          socket.on('join', () => l());
          socket.on('leave', () => l());
        },
        close: () => socket.close(),
      }),
    );
  });
}
