import { MemoryEngine, type MemoryEngineOptions, type StreamEngine } from '@tributary/engine';
import { connectWs, type TestSocket } from '@tributary/testkit';
import { connect, type Socket } from 'node:net';
import { afterEach } from 'vitest';
import { startBroker, type Broker, type BrokerOptions } from '../src/index.js';

export const SECRET = 'test-secret-that-is-at-least-32-bytes-long';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** Starts a broker on a random loopback port with a memory engine; stopped after the test. */
export async function broker(overrides: Partial<BrokerOptions> = {}, engineOptions: MemoryEngineOptions = {}): Promise<Broker> {
  const engine = overrides.engine ?? new MemoryEngine(engineOptions);
  const b = await startBroker({ engine, port: 0, auth: { insecure: true }, ...overrides });
  cleanups.push(async () => {
    await b.close();
    if (overrides.engine === undefined) await engine.close();
  });
  return b;
}

/** Connects a test socket that is closed after the test. */
export async function socket(url: string): Promise<TestSocket> {
  const s = await connectWs(url);
  cleanups.push(() => s.close());
  return s;
}

export function defer(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

/** A WebSocket handshake on a raw TCP socket, so a test can send partial and dribbled frames. */
export async function rawUpgrade(b: Broker): Promise<{ sock: Socket; closed: Promise<void> }> {
  const sock = connect(b.port, '127.0.0.1');
  defer(async () => void sock.destroy());
  const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
  sock.on('error', () => {});
  sock.write(
    `GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:${b.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
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
export function clientFrame(payload: string, fin = true): Buffer {
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

/** A memory engine with some methods replaced (a store with latency, or one that fails once); closed after the test. */
export function wrapEngine(inner: MemoryEngine, overrides: Partial<Record<keyof StreamEngine, (...a: never[]) => unknown>>): StreamEngine {
  defer(() => inner.close());
  return new Proxy(inner, {
    get(t, p) {
      if (typeof p === 'string' && p in overrides) return overrides[p as keyof StreamEngine];
      const v = Reflect.get(t, p, t) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  }) as unknown as StreamEngine;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
