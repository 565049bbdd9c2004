import type { Cluster, Redis } from 'ioredis';
import { backoff, createSubscriberConnection, whenReady } from './client.js';
import { closedError, deadline, toEngineError } from './errors.js';
import type { RedisNode, ResolvedRedisEngineOptions } from './options.js';
import { slotOf } from './slots.js';
import { unavailable } from '../options.js';

/** What the shard connections hand back. */
export interface ShardedPubSubHandlers {
  message(topic: string, payload: string): void;
  /** A shard connection was replaced and its topics are subscribed again: notifications may have been missed. */
  resubscribed(): void;
}

/** Which master serves a slot: the command client's slot map. */
export interface SlotOwners {
  /** Resolves once the slot map is loaded; UNAVAILABLE after `ms`. */
  ready(ms: number): Promise<void>;
  /** The master serving `slot`, or undefined while the map does not say. */
  owner(slot: number): RedisNode | undefined;
  /** Re-reads the map (after a MOVED, a lost shard or a slot that moved away). */
  refresh(): Promise<void>;
}

/** {@link SlotOwners} from an ioredis Cluster (the engine's command client). */
export function clusterSlotOwners(cluster: Cluster, what: string): SlotOwners {
  return {
    ready: (ms) => whenReady(cluster, ms, what),
    owner(slot) {
      const key = cluster.slots[slot]?.[0];
      if (key === undefined) return undefined;
      const colon = key.lastIndexOf(':');
      return { host: key.slice(0, colon), port: Number(key.slice(colon + 1)) };
    },
    refresh: () => new Promise<void>((resolve) => cluster.refreshSlotsCache(() => resolve())),
  };
}

/** One subscriber connection to one master, holding the topics of the slots it serves. */
class Shard {
  readonly key: string;
  readonly conn: Redis;
  /** Topics subscribed, or being subscribed, on this connection. */
  readonly topics = new Set<string>();
  /** The promise {@link ShardedPubSub} keeps for this connection (to forget it once lost). */
  connected: Promise<Shard> | undefined;
  #lost = false;
  readonly #onLost = new Set<() => void>();

  constructor(key: string, conn: Redis) {
    this.key = key;
    this.conn = conn;
  }

  get lost(): boolean {
    return this.#lost;
  }

  /** Marks the shard lost; true the first time. */
  markLost(): boolean {
    if (this.#lost) return false;
    this.#lost = true;
    for (const f of this.#onLost) f();
    return true;
  }

  /**
   * SSUBSCRIBEs `topics` (one command each: a command's channels must share a slot), pipelined;
   * rejects when the shard is lost first or Redis does not confirm within `ms`.
   */
  async subscribe(topics: readonly string[], ms: number): Promise<void> {
    if (this.#lost) throw unavailable('ssubscribe: shard connection lost');
    const p = this.conn.pipeline();
    for (const t of topics) p.ssubscribe(t);
    let onLost: (() => void) | undefined;
    const lost = new Promise<never>((_, reject) => {
      onLost = () => reject(unavailable('ssubscribe: shard connection lost'));
      this.#onLost.add(onLost);
    });
    try {
      const replies = (await deadline(Promise.race([p.exec(), lost]), ms, 'ssubscribe')) ?? [];
      const failed = replies.find(([err]) => err !== null);
      if (failed !== undefined) throw failed[0];
    } finally {
      if (onLost !== undefined) this.#onLost.delete(onLost);
    }
  }

  unsubscribe(topics: readonly string[]): void {
    if (this.#lost || topics.length === 0) return;
    const p = this.conn.pipeline();
    for (const t of topics) p.sunsubscribe(t);
    p.exec().catch(() => {});
  }
}

/**
 * Sharded pub/sub for a Redis Cluster: one subscriber connection per master, each topic SSUBSCRIBEd
 * on the master that serves its slot, so a notification published there (SPUBLISH) never crosses
 * the cluster bus to the other shards.
 *
 * As with the single-server {@link PubSub}, reconnection is ours: ioredis' own sharded subscribers
 * resubscribe silently, and a follow must learn that notifications may have been missed. A shard
 * connection is lost when it closes, misses a PING answer within `commandTimeoutMs` (checked every
 * `commandTimeoutMs`), is redirected (MOVED: our slot map is stale), or errs — which includes Redis
 * unsubscribing it because a slot moved to another master (resharding, failover): ioredis reports
 * that unsolicited SUNSUBSCRIBE as a command-queue error. Its topics are then subscribed again
 * wherever the refreshed slot map says, and only once all are back does `resubscribed` fire, so the
 * log reads that follow cannot miss an append made in between.
 */
export class ShardedPubSub {
  readonly #o: ResolvedRedisEngineOptions;
  readonly #slots: SlotOwners;
  readonly #handlers: ShardedPubSubHandlers;
  /** Topic → number of holders; a topic is subscribed while its count is positive. */
  readonly #refs = new Map<string, number>();
  /** Topic → the shard it is subscribed (or being subscribed) on. */
  readonly #home = new Map<string, Shard>();
  /** Master `host:port` → its connection, once asked for (connecting or live). */
  readonly #shards = new Map<string, Promise<Shard>>();
  /** Held topics whose shard was lost, to subscribe again. */
  readonly #orphans = new Set<string>();
  #repairing: Promise<void> | undefined;
  #closed = false;

  constructor(o: ResolvedRedisEngineOptions, slots: SlotOwners, handlers: ShardedPubSubHandlers) {
    this.#o = o;
    this.#slots = slots;
    this.#handlers = handlers;
  }

  /** Holds `topics`; resolves once each is confirmed by the master serving its slot. */
  async acquire(topics: readonly string[]): Promise<void> {
    for (const t of topics) this.#refs.set(t, (this.#refs.get(t) ?? 0) + 1);
    const until = Date.now() + this.#o.commandTimeoutMs;
    try {
      let todo = topics;
      for (let attempt = 1; ; attempt++) {
        if (this.#closed) throw closedError('subscribe');
        todo = await this.#subscribe(todo, until);
        if (todo.length === 0) return;
        if (Date.now() >= until) throw unavailable(`subscribe: Redis Cluster did not confirm within ${this.#o.commandTimeoutMs} ms`);
        await this.#slots.refresh();
        await sleep(Math.min(backoff(this.#o)(attempt), Math.max(0, until - Date.now())));
      }
    } catch (err) {
      this.release(topics);
      throw toEngineError(err, 'subscribe');
    }
  }

  /** Drops one hold of each topic; the last one unsubscribes. */
  release(topics: readonly string[]): void {
    const drop = new Map<Shard, string[]>();
    for (const t of topics) {
      const n = (this.#refs.get(t) ?? 0) - 1;
      if (n > 0) {
        this.#refs.set(t, n);
        continue;
      }
      this.#refs.delete(t);
      this.#orphans.delete(t);
      const shard = this.#home.get(t);
      if (shard === undefined) continue;
      this.#home.delete(t);
      shard.topics.delete(t);
      drop.set(shard, [...(drop.get(shard) ?? []), t]);
    }
    for (const [shard, ts] of drop) shard.unsubscribe(ts);
  }

  close(): void {
    this.#closed = true;
    for (const p of this.#shards.values()) {
      p.then((s) => {
        s.markLost();
        s.conn.disconnect();
      }).catch(() => {});
    }
    this.#shards.clear();
  }

  /** One pass: subscribes each held topic on its slot's master; returns the topics that failed. */
  async #subscribe(topics: readonly string[], until: number): Promise<string[]> {
    await this.#slots.ready(Math.max(1, until - Date.now()));
    const byOwner = new Map<string, { node: RedisNode; topics: string[] }>();
    const failed: string[] = [];
    for (const t of topics) {
      if (!this.#refs.has(t)) continue;
      const node = this.#slots.owner(slotOf(t));
      if (node === undefined) {
        failed.push(t);
        continue;
      }
      const key = `${node.host}:${node.port}`;
      const group = byOwner.get(key) ?? { node, topics: [] };
      group.topics.push(t);
      byOwner.set(key, group);
    }
    await Promise.all(
      [...byOwner].map(async ([key, { node, topics: ts }]) => {
        let shard: Shard | undefined;
        try {
          shard = await this.#shard(key, node, until);
          for (const t of ts) {
            this.#home.set(t, shard);
            shard.topics.add(t);
          }
          await shard.subscribe(ts, Math.max(1, until - Date.now()));
          // Released while Redis was confirming: the SUNSUBSCRIBE follows on the same connection.
          const released = ts.filter((t) => !this.#refs.has(t));
          if (released.length > 0) shard.unsubscribe(released);
        } catch {
          for (const t of ts) {
            if (shard !== undefined && this.#home.get(t) === shard) {
              this.#home.delete(t);
              shard.topics.delete(t);
            }
            if (this.#refs.has(t)) failed.push(t);
          }
        }
      }),
    );
    return failed;
  }

  /** The live connection to the master `key`, connecting if needed. */
  #shard(key: string, node: RedisNode, until: number): Promise<Shard> {
    let p = this.#shards.get(key);
    if (p === undefined) {
      p = this.#connect(key, node, until);
      this.#shards.set(key, p);
      p.catch(() => this.#shards.get(key) === p && this.#shards.delete(key));
    }
    return p;
  }

  #connect(key: string, node: RedisNode, until: number): Promise<Shard> {
    const conn = createSubscriberConnection(this.#o, node);
    const shard = new Shard(key, conn);
    shard.connected = this.#open(shard, until);
    return shard.connected;
  }

  async #open(shard: Shard, until: number): Promise<Shard> {
    const conn = shard.conn;
    conn.on('smessage', (topic: string, payload: string) => this.#handlers.message(topic, payload));
    conn.on('close', () => this.#lost(shard));
    conn.on('error', () => this.#lost(shard));
    // ioredis leaves a MOVED reply to SSUBSCRIBE unsettled and says so with this event.
    conn.on('moved', () => this.#lost(shard));
    try {
      await deadline(conn.connect(), Math.max(1, until - Date.now()), 'subscribe');
      if (this.#closed) throw closedError('subscribe');
      if (shard.lost) throw unavailable('subscribe: shard connection lost');
    } catch (err) {
      this.#lost(shard);
      throw err;
    }
    this.#watch(shard);
    return shard;
  }

  /** PINGs the shard every `commandTimeoutMs`; an answer missing for as long drops it. */
  #watch(shard: Shard): void {
    const ms = this.#o.commandTimeoutMs;
    const timer = setInterval(() => {
      if (shard.lost) {
        clearInterval(timer);
        return;
      }
      deadline(shard.conn.ping(), ms, 'ping').catch(() => this.#lost(shard));
    }, ms);
    timer.unref();
  }

  #lost(shard: Shard): void {
    if (!shard.markLost()) return;
    shard.conn.disconnect();
    if (this.#shards.get(shard.key) === shard.connected) this.#shards.delete(shard.key);
    for (const t of shard.topics) {
      if (this.#home.get(t) === shard) this.#home.delete(t);
      if (this.#refs.has(t)) this.#orphans.add(t);
    }
    shard.topics.clear();
    if (this.#closed || this.#orphans.size === 0) return;
    this.#repairing ??= this.#repair().finally(() => (this.#repairing = undefined));
  }

  /** Subscribes the orphans again until all are back (or released), then says so. */
  async #repair(): Promise<void> {
    const delay = backoff(this.#o);
    for (let attempt = 1; !this.#closed && this.#orphans.size > 0; attempt++) {
      await sleep(delay(attempt));
      await this.#slots.refresh();
      const todo = [...this.#orphans];
      this.#orphans.clear();
      const failed = await this.#subscribe(todo, Date.now() + this.#o.commandTimeoutMs).catch(() => todo);
      for (const t of failed) if (this.#refs.has(t)) this.#orphans.add(t);
      if (this.#orphans.size === 0 && !this.#closed) this.#handlers.resubscribed();
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
