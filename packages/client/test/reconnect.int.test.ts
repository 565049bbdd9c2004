import { describe, expect, it } from 'vitest';
import type { PublishInterceptor } from '@tributary/broker';
import WebSocket from 'ws';
import { eventually } from '@tributary/testkit';
import type { ClientEvents, RecoveryInfo, WebSocketConstructor } from '../src/index.js';
import { client, collector, gate, range, TestBroker } from './helpers.js';
import { brokerContext } from '@tributary/broker/internal';

describe('reconnect and resume', () => {
  it('resumes after a broker restart with no gap and no duplicate, under traffic', async () => {
    const b = await TestBroker.start();
    // The subscriber's token function is its door: while the gate is shut it cannot reconnect, so
    // messages pile up on the broker that it must later replay.
    const door = gate();
    const sub = client(b.wsUrl, { token: async () => (await door.wait(), 'unused-in-insecure-mode') });
    const pub = client(b.wsUrl);
    await Promise.all([sub.connect(), pub.connect()]);
    const got = collector<number>();
    const recoveries: RecoveryInfo[] = [];
    const s = await sub.subscribe<number>('feed', got.handler, { onRecovery: (r) => recoveries.push(r) });
    for (let i = 1; i <= 5; i++) await pub.publish('feed', i);
    await eventually(() => got.messages.length === 5, { message: 'first five' });

    const disconnects: Array<ClientEvents['disconnected']> = [];
    sub.on('disconnected', (e) => disconnects.push(e));
    door.shut();
    await b.stop();
    await b.restart();
    await eventually(() => pub.state === 'connected', { message: 'publisher back' });
    for (let i = 6; i <= 30; i++) await pub.publish('feed', i);
    expect(sub.state).not.toBe('connected');

    door.open();
    // Keep publishing while the subscriber resumes, so the replay/live switch happens under traffic.
    for (let i = 31; i <= 60; i++) await pub.publish('feed', i);
    await eventually(() => got.messages.length >= 60, { message: 'all sixty' });
    expect(got.data()).toEqual(range(1, 60));
    expect(s.position?.offset).toBe(60);
    expect(disconnects[0]).toMatchObject({ code: 1001, willReconnect: true });
    expect(recoveries).toEqual([
      { channel: 'feed', pattern: false, recovered: true, position: { offset: 5, epoch: s.position?.epoch }, resubscribed: true },
    ]);
  });

  it('says recovered: false (callback and event) when the missed messages were trimmed', async () => {
    const b = await TestBroker.start({}, { retention: { maxLength: 5 } });
    const door = gate();
    const sub = client(b.wsUrl, { token: async () => (await door.wait(), 't') });
    const pub = client(b.wsUrl);
    await Promise.all([sub.connect(), pub.connect()]);
    const got = collector<number>();
    const fromCallback: RecoveryInfo[] = [];
    const fromEvent: RecoveryInfo[] = [];
    sub.on('recovery', (r) => fromEvent.push(r));
    const s = await sub.subscribe<number>('c', got.handler, { onRecovery: (r) => fromCallback.push(r) });
    for (let i = 1; i <= 3; i++) await pub.publish('c', i);
    await eventually(() => got.messages.length === 3, { message: 'first three' });

    door.shut();
    await b.stop();
    await b.restart();
    await eventually(() => pub.state === 'connected', { message: 'publisher back' });
    let epoch = '';
    for (let i = 4; i <= 23; i++) epoch = (await pub.publish('c', i)).epoch;
    door.open();
    await eventually(() => fromEvent.length === 1, { message: 'recovery event' });
    const expected = { channel: 'c', pattern: false, recovered: false, position: { offset: 23, epoch }, resubscribed: true };
    expect(fromEvent).toEqual([expected]);
    expect(fromCallback).toEqual([expected]);

    await pub.publish('c', 24);
    await eventually(() => got.messages.length === 4, { message: 'live message after the gap' });
    // Nothing from the lost range is delivered; delivery goes on from the current position.
    expect(got.data()).toEqual([1, 2, 3, 24]);
    expect(s.position).toEqual({ offset: 24, epoch });
  });

  it('re-subscribes patterns live and reports recovered: false', async () => {
    const b = await TestBroker.start();
    const c = client(b.wsUrl);
    const pub = client(b.wsUrl);
    await Promise.all([c.connect(), pub.connect()]);
    const got = collector<number>();
    const recoveries: RecoveryInfo[] = [];
    await c.subscribe<number>('sensors.>', got.handler, { onRecovery: (r) => recoveries.push(r) });
    await pub.publish('sensors.a', 1);
    await eventually(() => got.messages.length === 1, { message: 'first' });
    await b.stop();
    await b.restart();
    await eventually(() => recoveries.length === 1, { message: 'pattern re-subscribed' });
    expect(recoveries[0]).toEqual({ channel: 'sensors.>', pattern: true, recovered: false, position: undefined, resubscribed: true });
    await eventually(() => pub.state === 'connected', { message: 'publisher back' });
    await pub.publish('sensors.b.c', 2);
    await eventually(() => got.messages.length === 2, { message: 'live after reconnect' });
    expect(got.data()).toEqual([1, 2]);
  });

  it('sends a publish made while disconnected once the connection is back, and stores it once', async () => {
    const b = await TestBroker.start();
    const c = client(b.wsUrl);
    await c.connect();
    await b.stop();
    await eventually(() => c.state !== 'connected', { message: 'disconnect' });
    const pending = c.publish('q', { during: 'outage' });
    await b.restart();
    const ack = await pending;
    expect(ack).toMatchObject({ offset: 1, duplicate: false });
    const h = await c.history('q');
    expect(h.messages.map((m) => m.data)).toEqual([{ during: 'outage' }]);
  });

  it('re-sends a publish in flight at disconnect with the same msgId: stored once', async () => {
    // A before-publish hook that holds the first publish until the broker has gone away, so the
    // message is stored but its ack never reaches the client.
    const hold = gate();
    hold.shut();
    let intercepted = 0;
    const slow: PublishInterceptor = {
      name: 'hold',
      matches: () => true,
      intercept: async () => {
        intercepted++;
        await hold.wait();
        return undefined;
      },
    };
    const b = await TestBroker.start({ interceptors: [slow] });
    const c = client(b.wsUrl);
    await c.connect();
    const pending = c.publish('once', 'payload', { msgId: 'm-1' });
    await eventually(() => intercepted === 1, { message: 'publish reached the broker' });
    const stopped = b.stop();
    await eventually(() => c.state !== 'connected', { message: 'disconnect' });
    hold.open();
    await stopped;
    await b.restart({ interceptors: [] });
    const ack = await pending;
    expect(ack).toMatchObject({ offset: 1, duplicate: true, msgId: 'm-1' });
    const h = await c.history('once');
    expect(h.messages).toEqual([expect.objectContaining({ offset: 1, data: 'payload', msgId: 'm-1' })]);
  });

  it('waits on the first connect when asked, and connect() during backoff retries at once', async () => {
    const b = await TestBroker.start();
    const url = b.wsUrl;
    await b.stop();
    const c = client(url, { waitOnFirstConnect: true, reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000, factor: 1 } });
    const connecting = c.connect();
    await eventually(() => c.state === 'disconnected', { message: 'first attempt failed' });
    await b.restart();
    // The backoff is a minute; a second connect() wakes the loop.
    await c.connect();
    await connecting;
    expect(c.state).toBe('connected');
  });

  it('drops a connection that stops answering pings and reconnects', async () => {
    const b = await TestBroker.start();
    // A real ws socket whose incoming frames can be swallowed: a silent, half-dead network path.
    let deaf = false;
    const Deafenable: WebSocketConstructor = class {
      readonly #ws: WebSocket;
      constructor(url: string) {
        this.#ws = new WebSocket(url);
      }
      get readyState(): number {
        return this.#ws.readyState;
      }
      send(text: string): void {
        this.#ws.send(text);
      }
      close(code?: number, reason?: string): void {
        this.#ws.close(code, reason);
      }
      terminate(): void {
        this.#ws.terminate();
      }
      addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: never) => void): void {
        const call = listener as (event: unknown) => void;
        if (type === 'message') this.#ws.on('message', (data) => void (deaf || call({ data: String(data) })));
        else if (type === 'close') this.#ws.on('close', (code, reason) => call({ code, reason: reason.toString() }));
        else this.#ws.on(type, (e: unknown) => call(e));
      }
    };
    const c = client(b.wsUrl, { pingIntervalMs: 20, requestTimeoutMs: 300, WebSocket: Deafenable });
    await c.connect();
    const first = c.clientId;
    const drops: Array<ClientEvents['disconnected']> = [];
    c.on('disconnected', (e) => {
      drops.push(e);
      deaf = false;
    });
    deaf = true;
    await eventually(() => drops.length === 1, { message: 'ping timeout drop' });
    expect(drops[0]).toMatchObject({ code: 1006, reason: 'ping timeout' });
    await eventually(() => c.state === 'connected', { message: 'reconnected' });
    expect(c.clientId).not.toBe(first);
  });

  it('resumes with no gap after being closed as a slow consumer (4008)', async () => {
    const b = await TestBroker.start({ maxQueueBytes: 64 * 1024 }, { retention: { maxLength: 100_000 } });
    const sockets: WebSocket[] = [];
    class Tracked extends WebSocket {
      constructor(url: string) {
        super(url);
        sockets.push(this);
      }
    }
    const slow = client(b.wsUrl, { WebSocket: Tracked });
    const pub = client(b.wsUrl);
    await Promise.all([slow.connect(), pub.connect()]);
    const got = collector<{ i: number }>();
    await slow.subscribe<{ i: number }>('firehose', got.handler);
    // Stop reading: the broker's queue for this client grows until it is cut off.
    sockets[0]?.pause();
    const pad = 'x'.repeat(4000);
    let n = 0;
    while (((b.running === undefined ? undefined : brokerContext(b.running))?.metrics.slowConsumers ?? 0) === 0) {
      const batch = [];
      for (let k = 0; k < 100; k++) batch.push(pub.publish('firehose', { i: ++n, pad }));
      await Promise.all(batch);
      if (n > 20_000) throw new Error('the broker never closed the slow consumer');
    }
    sockets[0]?.resume();
    for (let k = 0; k < 10; k++) await pub.publish('firehose', { i: ++n, pad });
    await eventually(() => got.messages.length >= n, { message: `all ${n} messages`, timeoutMs: 10_000 });
    expect(got.messages.map((m) => m.data.i)).toEqual(range(1, n));
    expect(sockets.length).toBeGreaterThanOrEqual(2);
  });

  it('keeps unsubscribed channels unsubscribed after a reconnect', async () => {
    const b = await TestBroker.start();
    const c = client(b.wsUrl);
    const pub = client(b.wsUrl);
    await Promise.all([c.connect(), pub.connect()]);
    const got = collector();
    const s = await c.subscribe('gone', got.handler);
    await s.unsubscribe();
    await b.stop();
    await b.restart();
    await eventually(() => c.state === 'connected' && pub.state === 'connected', { message: 'both back' });
    await pub.publish('gone', 1);
    // A round trip on the subscriber's connection orders after any delivery the broker would make.
    await c.ping();
    expect(got.messages).toHaveLength(0);
    await expect(c.subscribe('gone', () => {})).resolves.toMatchObject({ active: true });
  });
});
