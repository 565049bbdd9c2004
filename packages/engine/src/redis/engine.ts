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
import { Appender } from './appender.js';
import { RedisGroups } from './groups.js';
import { channelKeys, dedupKey, presenceTopic, shardPresenceTopic } from './keys.js';
import { RedisKeyValue } from './kv.js';
import { resolveRedisEngineOptions, type RedisEngineOptions, type RedisNode, type ResolvedRedisEngineOptions } from './options.js';
import { PubSub } from './pubsub.js';
import { GroupRegistry } from './registry.js';
import { ShardedPubSub, clusterSlotOwners } from './sharded.js';
import { slotOf } from './slots.js';
import { ClassicWakeups, ShardedWakeups, type Wakeups } from './wakeups.js';

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

  /** One append script for a batch of one channel's entries (see {@link Appender}). */
  async #appendBatch(channel: string, batch: readonly AppendInput[], written: () => void): Promise<Array<AppendResult | Error>> {
    const o = this.#o;
    const k = channelKeys(o.keyPrefix, channel);
    const groups = await this.#registry.forAppend(channel);
    const keys = [k.stream, k.meta];
    const sharded = this.#sharded !== undefined;
    const topics = sharded
      ? ShardedWakeups.appendTopics(o.keyPrefix, channel, slotOf(k.stream))
      : ClassicWakeups.appendTopics(o.keyPrefix, channel);
    const args: Array<string | number> = [
      channel,
      o.maxLength,
      o.maxAgeMs,
      o.dedupWindowMs,
      o.metaTtlMs,
      sharded ? 'SPUBLISH' : 'PUBLISH',
      `${channel}\n`,
      // On one server the channel's own topic names it; on a Cluster every topic carries the line.
      sharded ? 0 : 1,
      topics.length,
      ...topics,
      batch.length,
    ];
    for (const e of batch) {
      keys.push(dedupKey(o.keyPrefix, channel, e.msgId ?? ''));
      args.push(
        e.payload,
        e.msgId === undefined ? '0' : '1',
        e.msgId ?? '',
        e.hops !== undefined && e.hops > 0 ? String(e.hops) : '',
        e.meta ?? '',
      );
    }
    const r = await this.#run('append', () => {
      const reply = this.#client.tribAppend(keys.length, ...keys, ...args, ...groups);
      written();
      return reply;
    });
    return r.map((x) =>
      x[0] === '!'
        ? new TributaryError(ErrorCodes.INTERNAL, `append: Redis replied ${String(x[1])}`)
        : { offset: Number(x[0]), epoch: x[1], time: Number(x[2]), duplicate: x[3] === 1 },
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
