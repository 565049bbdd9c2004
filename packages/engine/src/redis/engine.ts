import type { Cluster } from 'ioredis';
import { ErrorCodes, TributaryError } from '@tributary/protocol';
import { nanoid } from 'nanoid';
import { clampLimit, MAX_READ_LIMIT } from '../options.js';
import type {
  AppendInput,
  AppendResult,
  ChannelState,
  EntryListener,
  Follow,
  PresenceChange,
  PresenceRecord,
  ReadOptions,
  ConsumerGroups,
  ReadResult,
  StreamEngine,
} from '../types.js';
import { createCommandClient, run, type CommandClient } from './client.js';
import { decodeEntry } from './codec.js';
import { closedError } from './errors.js';
import { Follows } from './follows.js';
import { Appender, MAX_BATCH_CHARS, MAX_BATCH_ENTRIES } from './appender.js';
import { RedisGroups } from './groups.js';
import { channelKeys, dedupKey, presenceTopic, shardPresenceTopic } from './keys.js';
import { RedisKeyValue } from './kv.js';
import { resolveRedisEngineOptions, type RedisEngineOptions, type RedisNode, type ResolvedRedisEngineOptions } from './options.js';
import { PubSub } from './pubsub.js';
import { GroupRegistry } from './registry.js';
import { ShardedPubSub, clusterSlotOwners } from './sharded.js';
import { slotOf } from './slots.js';
import { ClassicWakeups, ShardedWakeups, type Wakeups } from './wakeups.js';

/** One channel's batch in an append script call: its keys and argument section (see APPEND_LUA). */
interface AppendPart {
  keys: string[];
  args: Array<string | number>;
  entries: number;
  /** Payload characters of its entries. */
  chars: number;
  /**
   * A Cluster batch counts as written once its call is sent; a batch on one server counts as written
   * when queued (see `#queueBatch`), so it has none.
   */
  written?: () => void;
  resolve: (results: Array<AppendResult | Error>) => void;
  reject: (err: unknown) => void;
}

/**
 * Entries in one append script call over several channels: Redis serves nobody else while a script
 * runs, so a call stays within a few of one channel's largest batches (about a millisecond).
 */
const MAX_CALL_ENTRIES = 4 * MAX_BATCH_ENTRIES;

/** Channels whose append keys and topics an engine keeps (see `#appendNames`). */
const NAMES_KEPT = 50_000;

/** A channel's keys and notification topics, as its appends name them. */
interface AppendNames {
  stream: string;
  meta: string;
  topics: readonly string[];
}

/** Entries per log read when a follow fills a gap. */
const FILL_PAGE = 1000;

/**
 * The shared engine: channel logs in Redis Streams, on one server or a Redis Cluster. Many broker
 * and runner processes can use the same Redis; an append on one is delivered to follows on all.
 *
 * - append is one EVALSHA (dedup check, offset, consumer-group creation, XADD, trimming, expiry,
 *   notification) per batch of a channel's appends (group commit: see {@link Appender}), plus one
 *   SADD per matching consumer group the first time this engine appends to a channel for that group;
 * - a follow subscribes (once per channel per engine) to the channel's notification topic and
 *   fills any gap it sees, or any it may have missed while reconnecting, from the stream; on a
 *   Cluster the notifications are sharded (SPUBLISH / SSUBSCRIBE on the channel's shard only) and
 *   patterns read per-slot feeds (see {@link ShardedWakeups});
 * - connections are opened lazily (first call or {@link ready}) and re-opened forever; while Redis
 *   is unreachable, calls fail with UNAVAILABLE after `commandTimeoutMs` instead of queueing.
 */
export class RedisEngine implements StreamEngine {
  readonly kind = 'redis';
  readonly ordersAcrossChannels: boolean;
  readonly kv: RedisKeyValue;
  readonly groups: ConsumerGroups;
  readonly #o: ResolvedRedisEngineOptions;
  readonly #client: CommandClient;
  readonly #pubsub: PubSub;
  /** Cluster only: sharded pub/sub (see {@link ShardedWakeups}); undefined on one server. */
  readonly #sharded: ShardedWakeups | undefined;
  readonly #follows: Follows;
  readonly #registry: GroupRegistry;
  readonly #appender: Appender;
  #closed = false;

  constructor(options: RedisEngineOptions = {}) {
    this.#o = resolveRedisEngineOptions(options);
    this.#appender = new Appender((channel, batch, written) => this.#appendBatch(channel, batch, written), this.#o.commandTimeoutMs);
    this.#client = createCommandClient(this.#o);
    let classic: ClassicWakeups | undefined;
    let wakeups: Wakeups;
    // The classic connection carries the registry's change notices in both modes (rare, and every
    // node needs them: a broadcast is what they are), and on one server all notifications.
    this.#pubsub = new PubSub(this.#o, () => this.#endpoints(), {
      message: (topic, raw) => {
        if (topic === this.#registry.topic) this.#registry.refresh().catch(() => {});
        else classic?.message(topic, raw);
      },
      resubscribed: () => {
        this.#follows.resync();
        this.#registry.refresh().catch(() => {});
      },
    });
    this.ordersAcrossChannels = this.#o.cluster === undefined;
    if (this.#o.cluster === undefined) {
      this.#sharded = undefined;
      wakeups = classic = new ClassicWakeups(this.#o.keyPrefix, this.#pubsub, () => this.#follows);
    } else {
      const pubsub = new ShardedPubSub(this.#o, clusterSlotOwners(this.#client as Cluster, 'subscribe'), {
        message: (topic, raw) => this.#sharded?.message(topic, raw),
        resubscribed: () => this.#follows.resync(),
      });
      wakeups = this.#sharded = new ShardedWakeups(this.#o.keyPrefix, pubsub, () => this.#follows);
    }
    this.#follows = new Follows(
      wakeups,
      {
        readAfter: (channel, after) => this.read(channel, { after, limit: FILL_PAGE }),
        state: (channel) => this.state(channel),
      },
      this.#o,
    );
    const run = <T>(what: string, op: () => Promise<T>): Promise<T> => this.#run(what, op);
    this.kv = new RedisKeyValue(this.#client, this.#o.keyPrefix, run);
    this.#registry = new GroupRegistry(this.#client, this.#o.keyPrefix, run, this.#pubsub);
    this.groups = new RedisGroups(this.#client, this.#o.keyPrefix, run, this.#registry);
  }

  async ready(): Promise<void> {
    await this.#run('ready', () => this.#client.ping());
  }

  append(input: AppendInput): Promise<AppendResult> {
    return this.#appender.append(input);
  }

  /**
   * Sends a batch of one channel's entries (see {@link Appender}). On one server, the batches of all
   * channels that become due in the same turn go in one script call: a gateway or many devices
   * publishing to many channels cost one round trip and one script start for all of them instead
   * of one each. On a Cluster each channel's keys live in their own slot, so each batch is a call.
   */
  #appendBatch(channel: string, batch: readonly AppendInput[], written: () => void): Promise<Array<AppendResult | Error>> {
    // Mostly known at once: then the batch joins this turn's call without a promise of its own. (On
    // a Cluster a batch is sent at once, and its `written` may send the next: never synchronously,
    // or a long chain of one connection's appends would recurse.)
    try {
      const groups = this.#sharded === undefined ? this.#registry.forAppendNow(channel) : undefined;
      if (groups !== undefined) return this.#queueBatch(channel, batch, written, groups);
    } catch (err) {
      // A name the keys cannot hold (see channelKeys) fails its appends, never the caller's turn.
      return Promise.reject(err);
    }
    return this.#registry.forAppend(channel).then((g) => this.#queueBatch(channel, batch, written, g));
  }

  #queueBatch(
    channel: string,
    batch: readonly AppendInput[],
    written: () => void,
    groups: readonly string[],
  ): Promise<Array<AppendResult | Error>> {
    const o = this.#o;
    const sharded = this.#sharded !== undefined;
    const k = this.#appendNames(channel);
    const keys = [k.stream, k.meta];
    const args: Array<string | number> = [channel, k.topics.length, ...k.topics, groups.length, ...groups, batch.length];
    // An entry's kind and extra arguments: see APPEND_LUA.
    for (const e of batch) {
      const hops = e.hops !== undefined && e.hops > 0 ? String(e.hops) : '';
      const meta = e.meta ?? '';
      if (e.msgId !== undefined) {
        keys.push(dedupKey(o.keyPrefix, channel, e.msgId));
        args.push(e.payload, 'i', e.msgId, hops, meta);
      } else if (hops !== '' || meta !== '') args.push(e.payload, 'e', hops, meta);
      else args.push(e.payload, '');
    }
    return new Promise<Array<AppendResult | Error>>((resolve, reject) => {
      let chars = 0;
      for (const e of batch) chars += e.payload.length;
      if (sharded) {
        this.#sendParts([{ keys, args, entries: batch.length, chars, written, resolve, reject }]);
        return;
      }
      // Its place among this turn's batches is its place on the connection: the turn's calls go out
      // in this order, and a script runs its sections in order. So the batch counts as written now,
      // and an append of another channel held behind it (one connection alternating channels) joins
      // this turn's call instead of waiting for the next: a gateway's 80 publishes over 10
      // channels were 80 script calls, one per turn, and are 8, one per round over its channels
      // (a channel's next batch waits for the one at Redis).
      this.#parts.push({ keys, args, entries: batch.length, chars, resolve, reject });
      // The other channels' batches of this turn join it (their registry lookups settle together).
      if (this.#parts.length === 1) process.nextTick(() => this.#flushParts());
      this.#released(written);
    });
  }

  /** Per channel, the keys and topics every append to it names (see {@link #appendNames}). */
  readonly #names = new Map<string, AppendNames>();

  /**
   * The keys and topics of `channel`'s appends, kept: five strings (and on a Cluster a CRC16) per
   * batch otherwise, and a busy node appends to the same channels again and again. Bounded like the
   * registry's caches: past the bound it starts over.
   */
  #appendNames(channel: string): AppendNames {
    let names = this.#names.get(channel);
    if (names !== undefined) return names;
    const prefix = this.#o.keyPrefix;
    const k = channelKeys(prefix, channel);
    const topics =
      this.#sharded !== undefined
        ? ShardedWakeups.appendTopics(prefix, channel, slotOf(k.stream))
        : ClassicWakeups.appendTopics(prefix, channel);
    if (this.#names.size >= NAMES_KEPT) this.#names.clear();
    this.#names.set(channel, (names = { stream: k.stream, meta: k.meta, topics }));
    return names;
  }

  /** Batches of appends waiting for this turn's script call (one server only). */
  readonly #parts: AppendPart[] = [];

  /** `written` callbacks of queued batches, run one after another (see {@link #released}). */
  readonly #releasing: Array<() => void> = [];

  /**
   * Runs a queued batch's `written`, which may queue the next batch of its connection, whose
   * `written` queues the next…: run as a loop here, not as recursion, however long the chain.
   */
  #released(written: () => void): void {
    this.#releasing.push(written);
    if (this.#releasing.length > 1) return;
    try {
      for (let i = 0; i < this.#releasing.length; i++) (this.#releasing[i] as () => void)();
    } finally {
      this.#releasing.length = 0;
    }
  }

  /** Sends the turn's batches, as few calls as the bounds on one script's run allow. */
  #flushParts(): void {
    const parts = this.#parts.splice(0);
    let from = 0;
    let entries = 0;
    let chars = 0;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] as AppendPart;
      if (i > from && (entries + p.entries > MAX_CALL_ENTRIES || chars + p.chars > MAX_BATCH_CHARS)) {
        this.#sendParts(parts.slice(from, i));
        from = i;
        entries = 0;
        chars = 0;
      }
      entries += p.entries;
      chars += p.chars;
    }
    this.#sendParts(parts.slice(from));
  }

  /** One script call for `parts` (see {@link APPEND_LUA}); each part is settled with its entries' results. */
  #sendParts(parts: AppendPart[]): void {
    const o = this.#o;
    const keys: string[] = [];
    const args: Array<string | number> = [
      o.maxLength,
      o.maxAgeMs,
      o.dedupWindowMs,
      o.metaTtlMs,
      this.#sharded !== undefined ? 'SPUBLISH' : 'PUBLISH',
      // On one server the channel's own topic names it; on a Cluster every topic carries the line.
      this.#sharded !== undefined ? 0 : 1,
      // On one server the two feeds are published to only while subscribed (see APPEND_LUA). A
      // Cluster feed is 16,384 topics that a node subscribes to one master at a time, so there it
      // is always published to.
      this.#sharded !== undefined ? 0 : 2,
      parts.length,
    ];
    for (const p of parts) {
      keys.push(...p.keys);
      args.push(...p.args);
    }
    this.#run('append', () => {
      const reply = this.#client.tribAppend(keys.length, ...keys, ...args);
      for (const p of parts) p.written?.();
      return reply;
    }).then(
      (r) => {
        let at = 0;
        for (const p of parts) {
          p.resolve(
            r
              .slice(at, at + p.entries)
              .map((x) =>
                x[0] === '!'
                  ? new TributaryError(ErrorCodes.INTERNAL, `append: Redis replied ${String(x[1])}`)
                  : { offset: Number(x[0]), epoch: x[1], time: Number(x[2]), duplicate: x[3] === 1 },
              ),
          );
          at += p.entries;
        }
      },
      (err: unknown) => {
        for (const p of parts) p.reject(err);
      },
    );
  }

  async read(channel: string, options: ReadOptions): Promise<ReadResult> {
    const latest = options.after === undefined;
    const r = await this.#read(
      channel,
      latest ? 'latest' : 'after',
      Math.max(0, Math.floor(options.after ?? 0)),
      clampLimit(options.limit),
    );
    const entries = r[3].map((raw) => decodeEntry(channel, r[0], raw));
    if (latest) entries.reverse();
    return { epoch: r[0], first: Number(r[1]), last: Number(r[2]), entries };
  }

  async state(channel: string): Promise<ChannelState> {
    const r = await this.#read(channel, 'state', 0, 1);
    return { epoch: r[0], first: Number(r[1]), last: Number(r[2]) };
  }

  async reset(channel: string): Promise<ChannelState> {
    const k = channelKeys(this.#o.keyPrefix, channel);
    const epoch = await this.#run('reset', () => this.#client.tribReset(k.stream, k.meta, nanoid(10), this.#o.metaTtlMs));
    return { epoch, first: 1, last: 0 };
  }

  async follow(channel: string, listener: EntryListener): Promise<Follow> {
    this.#assertOpen('follow');
    return this.#follows.follow(channel, listener);
  }

  async followPattern(pattern: string, listener: EntryListener): Promise<Follow> {
    this.#assertOpen('followPattern');
    return this.#follows.followPattern(pattern, listener);
  }

  async presenceAdd(channel: string, member: PresenceRecord, ttlMs: number): Promise<boolean> {
    const key = channelKeys(this.#o.keyPrefix, channel).presence;
    const r = await this.#run('presenceAdd', () =>
      this.#client.tribPresence(key, 'add', member.clientId, JSON.stringify(member), Math.max(1, Math.ceil(ttlMs))),
    );
    return r === 1;
  }

  async presenceRemove(channel: string, clientId: string): Promise<boolean> {
    const key = channelKeys(this.#o.keyPrefix, channel).presence;
    const r = await this.#run('presenceRemove', () => this.#client.tribPresence(key, 'remove', clientId, '', 0));
    return r === 1;
  }

  async presenceList(channel: string): Promise<PresenceRecord[]> {
    const key = channelKeys(this.#o.keyPrefix, channel).presence;
    const r = await this.#run('presenceList', () => this.#client.tribPresence(key, 'list', '', '', 0));
    return (r as string[]).map((json) => JSON.parse(json) as PresenceRecord);
  }

  async presenceNotify(change: PresenceChange): Promise<void> {
    const sharded = this.#sharded !== undefined;
    const prefix = this.#o.keyPrefix;
    const topic = sharded ? shardPresenceTopic(prefix, change.channel) : presenceTopic(prefix, change.channel);
    // From the node owning the channel's slot, so one channel's changes arrive in order (Cluster).
    const key = channelKeys(prefix, change.channel).presence;
    const cmd = sharded ? 'SPUBLISH' : 'PUBLISH';
    await this.#run('presenceNotify', () => this.#client.tribNotify(key, topic, JSON.stringify(change), cmd));
  }

  async followPresence(channel: string, listener: (change: PresenceChange) => void): Promise<Follow> {
    this.#assertOpen('followPresence');
    return this.#follows.followPresence(channel, listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#appender.close();
    this.#registry.close();
    this.#follows.close();
    this.#pubsub.close();
    this.#sharded?.close();
    const c = this.#client;
    // QUIT on a never-connected lazy client would connect first; just drop it then.
    if (c.status === 'ready') await c.quit().catch(() => {});
    c.disconnect();
  }

  async #read(channel: string, mode: 'state' | 'after' | 'latest', after: number, limit: number) {
    const k = channelKeys(this.#o.keyPrefix, channel);
    const o = this.#o;
    return this.#run(mode === 'state' ? 'state' : 'read', () =>
      this.#client.tribRead(k.stream, k.meta, channel, o.maxAgeMs, mode, after, Math.min(limit, MAX_READ_LIMIT)),
    );
  }

  #run<T>(what: string, op: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(closedError(what));
    return run(this.#client, this.#o.commandTimeoutMs, what, op);
  }

  #assertOpen(what: string): void {
    if (this.#closed) throw closedError(what);
  }

  /** Where the subscriber may connect: the URL, or every known cluster node (seeds first). */
  #endpoints(): Array<RedisNode | undefined> {
    if (this.#o.cluster === undefined) return [undefined];
    const seen = new Map<string, RedisNode>();
    for (const n of this.#o.cluster) seen.set(`${n.host}:${n.port}`, n);
    for (const r of (this.#client as Cluster).nodes('all')) {
      const { host, port } = r.options;
      if (host !== undefined && port !== undefined) seen.set(`${host}:${port}`, { host, port });
    }
    return [...seen.values()];
  }
}
