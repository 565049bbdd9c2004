import { afterEach } from 'vitest';
// The client package depends on @tributary/protocol only; its tests run against the real broker and
// engine, imported from the workspace by path until they are listed as devDependencies.
import { createToken, startBroker, type Broker, type BrokerOptions } from '@tributary/broker';
import { MemoryEngine, type MemoryEngineOptions } from '@tributary/engine';
import { TributaryClient, type ClientOptions, type Message } from '../src/index.js';

export { createToken, MemoryEngine };
export const SECRET = 'client-test-secret-that-is-at-least-32-bytes';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/**
 * A broker on a random loopback port that can be stopped and started again on the same port with
 * the same engine, the way a broker restart looks to a client.
 */
export class TestBroker {
  readonly engine: MemoryEngine;
  #options: Omit<BrokerOptions, 'engine'>;
  #broker: Broker | undefined;
  #port = 0;

  private constructor(engine: MemoryEngine, options: Omit<BrokerOptions, 'engine'>) {
    this.engine = engine;
    this.#options = options;
  }

  static async start(options: Partial<Omit<BrokerOptions, 'engine'>> = {}, engineOptions: MemoryEngineOptions = {}): Promise<TestBroker> {
    const engine = new MemoryEngine(engineOptions);
    const b = new TestBroker(engine, { auth: { insecure: true }, host: '127.0.0.1', ...options });
    cleanups.push(async () => {
      await b.stop();
      await engine.close();
    });
    await b.restart();
    return b;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.#port}/v1/ws`;
  }

  get running(): Broker | undefined {
    return this.#broker;
  }

  /** Closes the broker (clients get 1001 going away); the engine and its history stay. */
  async stop(): Promise<void> {
    const b = this.#broker;
    this.#broker = undefined;
    await b?.close();
  }

  /** Starts a broker on the same port (a random one the first time), with new options if given. */
  async restart(options: Partial<Omit<BrokerOptions, 'engine'>> = {}): Promise<void> {
    this.#broker = await startBroker({ ...this.#options, ...options, engine: this.engine, port: this.#port });
    this.#port = this.#broker.port;
  }
}

/** A client with fast reconnects (tests wait on outcomes, not on delays); closed after the test. */
export function client(url: string | string[], options: Partial<ClientOptions> = {}): TributaryClient {
  const c = new TributaryClient({ url, reconnect: { minDelayMs: 5, maxDelayMs: 50, factor: 2 }, requestTimeoutMs: 5000, ...options });
  cleanups.push(() => c.close());
  return c;
}

/** A latch: `wait()` resolves once `open()` was called (and at once while it stays open). */
export function gate(): { wait(): Promise<void>; open(): void; shut(): void; readonly isOpen: boolean } {
  let opened = true;
  let waiters: Array<() => void> = [];
  return {
    wait: () => (opened ? Promise.resolve() : new Promise<void>((r) => waiters.push(r))),
    open: () => {
      opened = true;
      const w = waiters;
      waiters = [];
      for (const r of w) r();
    },
    shut: () => {
      opened = false;
    },
    get isOpen() {
      return opened;
    },
  };
}

/** Collects a subscription's messages. */
export function collector<T = unknown>(): {
  messages: Array<Message<T>>;
  handler: (m: Message<T>) => void;
  data(): T[];
  offsets(): number[];
} {
  const messages: Array<Message<T>> = [];
  return {
    messages,
    handler: (m) => void messages.push(m),
    data: () => messages.map((m) => m.data),
    offsets: () => messages.map((m) => m.offset),
  };
}

/** [from, from+1, …, to]. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
