import type { Redis } from 'ioredis';
import { createSubscriberConnection, backoff } from './client.js';
import { closedError, deadline, toEngineError } from './errors.js';
import type { RedisNode, ResolvedRedisEngineOptions } from './options.js';
import { unavailable } from '../options.js';

/** What the subscriber connection hands back. */
export interface PubSubHandlers {
  message(topic: string, payload: string): void;
  /** After a reconnect, once every subscription is back: notifications may have been missed. */
  resubscribed(): void;
}

/**
 * The engine's one subscriber connection. Reconnection is ours, not ioredis': a lost connection is
 * replaced by a new one (to the next node, for a cluster — any node hears every PUBLISH), all
 * subscriptions are restored on it, and only then `resubscribed` fires, so re-reading the logs
 * afterwards cannot miss an append made in between. (ioredis' Cluster subscriber does fail over, but
 * tells nobody, so gaps could not be filled.)
 *
 * Liveness: a connection can die silently (a failover or NAT that forgets it leaves the TCP socket
 * open and nothing arrives — subscribers then wait forever). So the live connection is PINGed every
 * `commandTimeoutMs`; one PING unanswered within `commandTimeoutMs` counts as lost, and it is
 * replaced like a closed one (then followed channels re-read the log). Detection: ≤ 2 × commandTimeoutMs.
 */
export class PubSub {
  readonly #o: ResolvedRedisEngineOptions;
  readonly #endpoints: () => Array<RedisNode | undefined>;
  readonly #handlers: PubSubHandlers;
  /** Topic → number of holders; a topic is subscribed while its count is positive. */
  readonly #refs = new Map<string, number>();
  #conn: Redis | undefined;
  #connecting: Promise<void> | undefined;
  #everConnected = false;
  #closed = false;
  #pinger: ReturnType<typeof setInterval> | undefined;
  readonly #waiters = new Set<() => void>();

  constructor(o: ResolvedRedisEngineOptions, endpoints: () => Array<RedisNode | undefined>, handlers: PubSubHandlers) {
    this.#o = o;
    this.#endpoints = endpoints;
    this.#handlers = handlers;
  }

  /** Holds the topic `name`; resolves once Redis confirmed it. */
  async acquire(name: string): Promise<void> {
    const refs = this.#refs;
    refs.set(name, (refs.get(name) ?? 0) + 1);
    try {
      const conn = this.#conn ?? (await this.#connected());
      // Sent even when already subscribed: Redis treats it as a no-op and its reply confirms.
      await deadline(conn.subscribe(name), this.#o.commandTimeoutMs, 'subscribe');
    } catch (err) {
      this.release(name);
      throw toEngineError(err, 'subscribe');
    }
  }

  /** Drops one hold of `name`; the last one unsubscribes. */
  release(name: string): void {
    const refs = this.#refs;
    const n = (refs.get(name) ?? 0) - 1;
    if (n > 0) {
      refs.set(name, n);
      return;
    }
    refs.delete(name);
    const conn = this.#conn;
    if (conn === undefined) return;
    conn.unsubscribe(name).catch(() => {});
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#pinger);
    this.#conn?.disconnect();
    this.#conn = undefined;
    for (const w of this.#waiters) w();
  }

  /** The live connection, connecting if needed; UNAVAILABLE after the command timeout. */
  async #connected(): Promise<Redis> {
    if (this.#closed) throw closedError('subscribe');
    this.#connecting ??= this.#connectLoop().finally(() => (this.#connecting = undefined));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        reject(unavailable(`subscribe: Redis not reachable within ${this.#o.commandTimeoutMs} ms`));
      }, this.#o.commandTimeoutMs);
      const wake = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      this.#waiters.add(wake);
    });
    if (this.#conn === undefined) throw closedError('subscribe');
    return this.#conn;
  }

  async #connectLoop(): Promise<void> {
    const delay = backoff(this.#o);
    for (let attempt = 0; !this.#closed; attempt++) {
      const eps = this.#endpoints();
      const conn = createSubscriberConnection(this.#o, eps[attempt % eps.length]);
      conn.on('message', (topic: string, payload: string) => this.#handlers.message(topic, payload));
      try {
        await conn.connect();
        const topics = [...this.#refs.keys()];
        if (topics.length > 0) await conn.subscribe(...topics);
        if (this.#closed || conn.status !== 'ready') throw new Error('subscriber connection lost');
        // Released while we were subscribing the snapshot: drop them again.
        const stale = topics.filter((t) => !this.#refs.has(t));
        if (stale.length > 0) conn.unsubscribe(...stale).catch(() => {});
      } catch {
        conn.disconnect();
        if (!this.#closed) await new Promise((r) => setTimeout(r, delay(attempt + 1)));
        continue;
      }
      this.#conn = conn;
      conn.once('close', () => this.#lost(conn));
      this.#watch(conn);
      for (const w of [...this.#waiters]) w();
      if (this.#everConnected) this.#handlers.resubscribed();
      this.#everConnected = true;
      return;
    }
  }

  /** PINGs `conn` while it is the live connection; a missed answer drops it (see the class doc). */
  #watch(conn: Redis): void {
    clearInterval(this.#pinger);
    const ms = this.#o.commandTimeoutMs;
    this.#pinger = setInterval(() => {
      if (this.#conn !== conn) return;
      deadline(conn.ping(), ms, 'ping').catch(() => this.#lost(conn));
    }, ms);
    this.#pinger.unref();
  }

  #lost(conn: Redis): void {
    if (this.#conn !== conn) return;
    clearInterval(this.#pinger);
    this.#conn = undefined;
    conn.disconnect();
    if (this.#closed) return;
    this.#connecting ??= this.#connectLoop().finally(() => (this.#connecting = undefined));
  }
}
