/**
 * The storage contract every engine implements. The broker and the block runner talk only to this
 * interface; which engine runs is the caller's choice (MemoryEngine embedded, RedisEngine shared).
 *
 * Model: each channel is an append-only log. Every appended entry gets the next offset (1, 2, 3, …)
 * within the channel's current epoch. Retention trims the oldest entries by count and by age. When a
 * channel's history is lost or reset (explicit reset, or the Redis keys expired/vanished), a new
 * epoch starts and offsets start again at 1, so a client holding (offset, epoch) can always tell
 * whether resuming from it is possible.
 */

/** Input to {@link StreamEngine.append}. */
export interface AppendInput {
  channel: string;
  /** The message body as JSON text (already validated and size-checked by the caller). */
  payload: string;
  /** Client message id: a second append with the same id within the dedup window stores nothing. */
  msgId?: string;
  /** Block composition hop count (0 or absent for messages from clients). */
  hops?: number;
  /**
   * Envelope metadata beside the payload, stored verbatim as one field and returned with the entry
   * (reads, follows, group reads): the broker keeps lineage and W3C trace context here (see
   * `encodeEnvelope` in @tributary/protocol). Absent or '' stores nothing.
   */
  meta?: string;
  /**
   * Appends issued with the same key (the broker uses one per client connection) are stored in the
   * order they were issued across channels too, on an engine whose `ordersAcrossChannels` is true,
   * without the caller waiting for each to be stored.
   */
  orderKey?: string;
}

/** Result of {@link StreamEngine.append}. */
export interface AppendResult {
  offset: number;
  epoch: string;
  /** Milliseconds since the Unix epoch when the entry was stored (the original's, for duplicates). */
  time: number;
  /** True when `msgId` matched an earlier append: the earlier entry's position is returned. */
  duplicate: boolean;
}

/** One stored message. */
export interface Entry {
  channel: string;
  offset: number;
  epoch: string;
  time: number;
  /** JSON text of the message body, exactly as appended. */
  payload: string;
  msgId?: string;
  hops?: number;
  /** {@link AppendInput.meta}, as appended; absent on entries appended without it. */
  meta?: string;
}

/** Options of {@link StreamEngine.read}. */
export interface ReadOptions {
  /** Return entries with offset > after. Without it, the latest `limit` entries. */
  after?: number;
  /** Maximum number of entries; engines cap it at 10 000. */
  limit: number;
}

/** A channel's state and, for reads, a slice of its log. */
export interface ChannelState {
  epoch: string;
  /** Oldest retained offset; `last + 1` when nothing is retained. */
  first: number;
  /** Latest offset in this epoch; 0 when nothing was appended yet. */
  last: number;
}

export interface ReadResult extends ChannelState {
  /** In offset order, without gaps. */
  entries: Entry[];
}

/** Retention of a channel's log; whichever limit is hit first trims. */
export interface RetentionOptions {
  /**
   * Maximum number of retained entries per channel.
   * @defaultValue 1000
   */
  maxLength?: number;
  /**
   * Maximum age of a retained entry in milliseconds; an idle channel's whole history (and then its
   * epoch) expires after this long.
   * @defaultValue 86_400_000 (24 h)
   */
  maxAgeMs?: number;
}

/**
 * Receives entries from {@link StreamEngine.follow}. Called in offset order per channel, once per
 * entry, never concurrently for the same channel. An exception it throws, or a rejection of a
 * promise it returns (which is not awaited), goes to the engine's `onListenerError`; it never
 * stops delivery to other listeners or of later entries, and never becomes an uncaught exception.
 */
export type EntryListener = (entry: Entry) => void;

/** A follow that can be stopped; stopping is idempotent. */
export interface Follow {
  close(): Promise<void>;
}

/** Presence of one client on one channel, as engines store it. */
export interface PresenceRecord {
  clientId: string;
  user?: string;
  node: string;
  since: number;
}

/** A presence change on a channel, delivered to presence followers on every node. */
export interface PresenceChange {
  kind: 'join' | 'leave';
  channel: string;
  member: PresenceRecord;
}

/** Per-key store for blocks (`ctx.kv`); values are strings, counters are integers. */
export interface KeyValueStore {
  get(namespace: string, key: string): Promise<string | undefined>;
  /** Sets `key`; with `ttlMs`, the key disappears after that long. */
  set(namespace: string, key: string, value: string, ttlMs?: number): Promise<void>;
  /** Adds `by` to an integer counter (0 when absent) and returns the new value. */
  incr(namespace: string, key: string, by: number, ttlMs?: number): Promise<number>;
  del(namespace: string, key: string): Promise<boolean>;
  /** Sets `key` only if absent (a lease); true when this call set it. */
  claim(namespace: string, key: string, value: string, ttlMs: number): Promise<boolean>;
}

/** An entry handed to a consumer group member, with how many times it was handed out so far. */
export interface GroupEntry extends Entry {
  /** 1 on first delivery; grows each time the entry is claimed again after a consumer failed. */
  deliveries: number;
  /**
   * Set on the first entry after a gap: how many entries just before this one (same channel and
   * epoch) the group never handed out because retention trimmed them first. Never silent loss:
   * consumers report it.
   */
  gapBefore?: number;
}

/**
 * Consumer groups over channel logs, for after-publish blocks: every entry appended to a channel
 * matching one of a group's patterns after the group was registered (and the registration reached the
 * appending node) is handed to one consumer of the group, and again to another if it is not acked
 * within the claim time (at-least-once). Redis: Streams consumer groups (XREADGROUP, XACK,
 * XAUTOCLAIM); memory: the same semantics in-process.
 */
export interface ConsumerGroups {
  /** Registers `group` on every channel matching one of `patterns` (idempotent; replaces earlier patterns). */
  register(group: string, patterns: readonly string[]): Promise<void>;
  /** Forgets the group: no new entries are handed out; pending ones are dropped. */
  unregister(group: string): Promise<void>;
  /** Up to `count` entries never handed out before, across the group's channels, oldest first per channel. */
  read(group: string, consumer: string, count: number): Promise<GroupEntry[]>;
  /** Marks entries of `channel` as handled. */
  ack(group: string, channel: string, offsets: number[]): Promise<void>;
  /** Takes over up to `count` entries handed out more than `minIdleMs` ago and not acked. */
  claim(group: string, consumer: string, minIdleMs: number, count: number): Promise<GroupEntry[]>;
  /**
   * Up to `count` entries handed to `consumer` and not acked, oldest first per channel, handed to it
   * again whatever their idle time (which restarts, as with a claim), not counted as another
   * delivery: they were handed out, maybe never seen. For a consumer that cannot know what it was
   * handed — it just started under a name it had before, or a read failed after the store may have
   * run it (the reply lost with the connection) — rather than leave them for a claim after the
   * claim time. Two live consumers must not share a name.
   */
  redeliver(group: string, consumer: string, count: number): Promise<GroupEntry[]>;
  /** Entries handed out and not yet acked. */
  pending(group: string): Promise<number>;
  /**
   * How far the group is behind, over all its channels: what it handed out and no consumer acked,
   * what is stored and not handed out yet, and the storage time of the oldest of either (a block's
   * consumer lag: docs/OPERATIONS.md, Topology).
   */
  lag(group: string): Promise<GroupLag>;
}

/** A consumer group's backlog, from {@link ConsumerGroups.lag}. */
export interface GroupLag {
  /** Entries handed out and not yet acked (as {@link ConsumerGroups.pending} counts them). */
  pending: number;
  /** Entries stored (and still retained) after the last one the group handed out. */
  unread: number;
  /**
   * Storage time (ms since the Unix epoch) of the oldest entry that is pending or unread; absent when
   * there is none, or when the only ones left were trimmed by retention.
   */
  oldestTime?: number;
}

/** The storage engine. */
export interface StreamEngine {
  /** A short name for logs and metrics: 'memory' or 'redis'. */
  readonly kind: string;

  /**
   * True when appends sharing an `orderKey` are stored in issue order across channels (see
   * {@link AppendInput.orderKey}): the memory engine, and Redis on one server (one connection runs
   * commands in the order written). False on a Redis Cluster, where channels live on different
   * shards: a caller that needs order across channels there waits for each append to be stored.
   */
  readonly ordersAcrossChannels: boolean;

  /**
   * Appends one entry, atomically with its dedup check and trimming. Appends to one channel issued
   * through one engine are stored in the order they were issued, not completed, so a caller may
   * issue several without awaiting each (the broker pipelines a connection's publishes this way).
   * At most one round trip to the store per append; the RedisEngine sends a channel's appends issued
   * while its previous batch is in flight together (group commit).
   */
  append(input: AppendInput): Promise<AppendResult>;

  /**
   * Reads a slice of a channel's log together with its state. Reads store nothing: a channel never
   * written (or whose history expired) answers `first` 1, `last` 0 and its unwritten epoch, a
   * value that stays the same across reads and that the channel's first append adopts, so a
   * subscriber that started before the first message resumes in the same epoch.
   */
  read(channel: string, options: ReadOptions): Promise<ReadResult>;

  /** The channel's state without reading entries; stores nothing (see {@link read}). */
  state(channel: string): Promise<ChannelState>;

  /** Deletes a channel's history and starts a new epoch; returns the new state. */
  reset(channel: string): Promise<ChannelState>;

  /**
   * Delivers every entry appended to `channel` (on any node) after the follow is established, in
   * offset order, without gaps or duplicates — gaps seen on the wire (a lost notification, a
   * reconnect) are filled by reading the log. The returned promise resolves once the follow is
   * established: anything appended after that is delivered. An epoch change is delivered as entries
   * whose epoch differs from the previous one (offsets restart at 1).
   */
  follow(channel: string, listener: EntryListener): Promise<Follow>;

  /**
   * Like {@link follow} for every channel matching a pattern (see @tributary/protocol's pattern
   * syntax). Ordered and gap-free per channel from the first entry this follow sees on it. Rejects
   * with a TributaryError(LIMIT_EXCEEDED) when `maxPatterns` distinct patterns are followed already.
   */
  followPattern(pattern: string, listener: EntryListener): Promise<Follow>;

  /** Presence: add or refresh a member; returns true when it was not present before (a join). */
  presenceAdd(channel: string, member: PresenceRecord, ttlMs: number): Promise<boolean>;
  /** Presence: remove a member; returns true when it was present (a leave). */
  presenceRemove(channel: string, clientId: string): Promise<boolean>;
  /** Presence: the members present now (expired ones excluded). */
  presenceList(channel: string): Promise<PresenceRecord[]>;
  /** Presence: publish a join/leave to presence followers on every node. */
  presenceNotify(change: PresenceChange): Promise<void>;
  /** Presence: receive join/leave changes for a channel from every node. */
  followPresence(channel: string, listener: (change: PresenceChange) => void): Promise<Follow>;

  /** Key-value store for blocks. */
  readonly kv: KeyValueStore;

  /** Consumer groups for after-publish blocks. */
  readonly groups: ConsumerGroups;

  /** Resolves when the engine can serve; rejects with a TributaryError(UNAVAILABLE) otherwise. */
  ready(): Promise<void>;

  /** Stops follows and closes connections. */
  close(): Promise<void>;
}
