import { nanoid } from 'nanoid';
import { unwrittenEpoch } from './epoch.js';
import { callListener } from './listeners.js';
import { clampLimit, patternLimit, resolveEngineOptions, type EngineOptions, type ResolvedEngineOptions } from './options.js';
import { MemoryGroups } from './memory-groups.js';
import { MemoryKeyValue } from './memory-kv.js';
import { SegmentIndex } from './segment-index.js';
import type {
  AppendInput,
  AppendResult,
  ChannelState,
  Entry,
  EntryListener,
  Follow,
  PresenceChange,
  PresenceRecord,
  ReadOptions,
  ReadResult,
  StreamEngine,
} from './types.js';

/** Options of {@link MemoryEngine}. */
export type MemoryEngineOptions = EngineOptions;

interface ChannelLog {
  epoch: string;
  /** Retained entries; `entries[head]` is the oldest. Compacted when head grows large. */
  entries: Entry[];
  head: number;
  last: number;
  lastAppendAt: number;
  dedup: Map<string, { result: AppendResult; expiresAt: number }>;
}

/** How often idle channels, expired dedup ids and presence are swept. */
const SWEEP_INTERVAL_MS = 30_000;

/**
 * The embedded engine: every channel's log in this process's memory. Serves a single broker
 * process fully (history, resume, presence, kv); nothing survives a restart, and a restart shows as a
 * new epoch to resuming clients.
 */
export class MemoryEngine implements StreamEngine {
  readonly kind = 'memory';
  /** Appends are stored when called, so in issue order on every channel. */
  readonly ordersAcrossChannels = true;
  readonly kv: MemoryKeyValue;
  readonly groups: MemoryGroups;
  readonly #opts: ResolvedEngineOptions;
  readonly #logs = new Map<string, ChannelLog>();
  readonly #followers = new Map<string, Set<EntryListener>>();
  #patternFollowers = new SegmentIndex<EntryListener>();
  readonly #presence = new Map<string, Map<string, { record: PresenceRecord; expiresAt: number }>>();
  readonly #presenceFollowers = new Map<string, Set<(c: PresenceChange) => void>>();
  readonly #sweeper: NodeJS.Timeout;
  /** Makes this process's unwritten epochs differ from an earlier process's (see unwrittenEpoch). */
  readonly #salt = nanoid(10);
  #closed = false;

  constructor(options: MemoryEngineOptions = {}) {
    this.#opts = resolveEngineOptions(options);
    this.kv = new MemoryKeyValue();
    this.groups = new MemoryGroups((channel, after, limit) => {
      const log = this.#logs.get(channel);
      if (log === undefined) return { epoch: '', last: 0, entries: [] };
      const first = log.last - (log.entries.length - log.head) + 1;
      const from = log.head + Math.max(0, after + 1 - first);
      return { epoch: log.epoch, last: log.last, entries: log.entries.slice(from, from + limit) };
    });
    this.#sweeper = setInterval(() => this.#sweep(Date.now()), SWEEP_INTERVAL_MS);
    this.#sweeper.unref();
  }

  /**
   * How many channels this engine holds anything for (a log, followers, presence): for metrics and
   * tests. Reads never make it grow.
   */
  get channelCount(): number {
    return new Set([...this.#logs.keys(), ...this.#followers.keys(), ...this.#presence.keys(), ...this.#presenceFollowers.keys()]).size;
  }

  /** How many distinct patterns are followed now. */
  get patternCount(): number {
    return this.#patternFollowers.size;
  }

  async ready(): Promise<void> {}

  async append(input: AppendInput): Promise<AppendResult> {
    const now = Date.now();
    const log = this.#log(input.channel, now);
    if (input.msgId !== undefined) {
      const seen = log.dedup.get(input.msgId);
      if (seen !== undefined && seen.expiresAt > now) return { ...seen.result, duplicate: true };
    }
    const offset = ++log.last;
    const entry: Entry = { channel: input.channel, offset, epoch: log.epoch, time: now, payload: input.payload };
    if (input.msgId !== undefined) entry.msgId = input.msgId;
    if (input.hops !== undefined && input.hops > 0) entry.hops = input.hops;
    if (input.meta !== undefined && input.meta !== '') entry.meta = input.meta;
    log.entries.push(entry);
    log.lastAppendAt = now;
    this.#trim(log, now);
    const result: AppendResult = { offset, epoch: log.epoch, time: now, duplicate: false };
    if (input.msgId !== undefined) log.dedup.set(input.msgId, { result, expiresAt: now + this.#opts.dedupWindowMs });
    this.groups.onAppend(entry);
    this.#emit(entry);
    return result;
  }

  async read(channel: string, options: ReadOptions): Promise<ReadResult> {
    const now = Date.now();
    const log = this.#existing(channel, now);
    if (log === undefined) return { ...this.#unwritten(channel, now), entries: [] };
    this.#trim(log, now);
    const limit = clampLimit(options.limit);
    const live = log.entries.length - log.head;
    const first = log.last - live + 1;
    let start: number;
    if (options.after === undefined) start = Math.max(first, log.last - limit + 1);
    else start = Math.max(first, options.after + 1);
    const from = log.head + (start - first);
    const entries = log.entries.slice(from, Math.min(log.entries.length, from + limit));
    return { epoch: log.epoch, first, last: log.last, entries };
  }

  async state(channel: string): Promise<ChannelState> {
    const now = Date.now();
    const log = this.#existing(channel, now);
    if (log === undefined) return this.#unwritten(channel, now);
    this.#trim(log, now);
    return { epoch: log.epoch, first: log.last - (log.entries.length - log.head) + 1, last: log.last };
  }

  async reset(channel: string): Promise<ChannelState> {
    // A random epoch, not the unwritten one: that may be the very epoch being reset.
    const log = this.#create(channel, Date.now(), nanoid(10));
    return { epoch: log.epoch, first: 1, last: 0 };
  }

  async follow(channel: string, listener: EntryListener): Promise<Follow> {
    let set = this.#followers.get(channel);
    if (set === undefined) this.#followers.set(channel, (set = new Set()));
    // Wrap so the same function can follow twice and close independently.
    const own: EntryListener = (e) => listener(e);
    set.add(own);
    return {
      close: async () => {
        const s = this.#followers.get(channel);
        s?.delete(own);
        if (s?.size === 0) this.#followers.delete(channel);
      },
    };
  }

  async followPattern(pattern: string, listener: EntryListener): Promise<Follow> {
    const index = this.#patternFollowers;
    if (!index.has(pattern) && index.size >= this.#opts.maxPatterns) throw patternLimit(pattern, this.#opts.maxPatterns);
    // Wrap so the same function can follow twice and close independently.
    const own: EntryListener = (e) => listener(e);
    index.add(pattern, own);
    return { close: async () => void index.delete(pattern, own) };
  }

  async presenceAdd(channel: string, member: PresenceRecord, ttlMs: number): Promise<boolean> {
    let members = this.#presence.get(channel);
    if (members === undefined) this.#presence.set(channel, (members = new Map()));
    const now = Date.now();
    const prev = members.get(member.clientId);
    members.set(member.clientId, { record: member, expiresAt: now + ttlMs });
    return prev === undefined || prev.expiresAt <= now;
  }

  async presenceRemove(channel: string, clientId: string): Promise<boolean> {
    const members = this.#presence.get(channel);
    const prev = members?.get(clientId);
    if (members === undefined || prev === undefined) return false;
    members.delete(clientId);
    if (members.size === 0) this.#presence.delete(channel);
    return prev.expiresAt > Date.now();
  }

  async presenceList(channel: string): Promise<PresenceRecord[]> {
    const now = Date.now();
    const out: PresenceRecord[] = [];
    for (const m of this.#presence.get(channel)?.values() ?? []) if (m.expiresAt > now) out.push(m.record);
    return out;
  }

  async presenceNotify(change: PresenceChange): Promise<void> {
    const report = this.#opts.onListenerError;
    for (const l of this.#presenceFollowers.get(change.channel) ?? []) callListener(l, change, change.channel, report);
  }

  async followPresence(channel: string, listener: (change: PresenceChange) => void): Promise<Follow> {
    let set = this.#presenceFollowers.get(channel);
    if (set === undefined) this.#presenceFollowers.set(channel, (set = new Set()));
    const own = (c: PresenceChange): void => listener(c);
    set.add(own);
    return {
      close: async () => {
        const s = this.#presenceFollowers.get(channel);
        s?.delete(own);
        if (s?.size === 0) this.#presenceFollowers.delete(channel);
      },
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#followers.clear();
    this.#patternFollowers = new SegmentIndex();
    this.#presenceFollowers.clear();
    this.kv.close();
  }

  /** The channel's log for an append, created in the unwritten epoch readers were told about. */
  #log(channel: string, now: number): ChannelLog {
    return this.#existing(channel, now) ?? this.#create(channel, now, this.#unwritten(channel, now).epoch);
  }

  #create(channel: string, now: number, epoch: string): ChannelLog {
    const log: ChannelLog = { epoch, entries: [], head: 0, last: 0, lastAppendAt: now, dedup: new Map() };
    this.#logs.set(channel, log);
    return log;
  }

  /** The channel's log, if it has one. Reads never create one: a read must not cost memory. */
  #existing(channel: string, now: number): ChannelLog | undefined {
    const log = this.#logs.get(channel);
    // An idle channel's history expires as a whole after maxAge, as Redis keys do; the next use
    // starts a new epoch so a client resuming from the old one is told it was not recovered.
    if (log !== undefined && now - log.lastAppendAt > this.#opts.maxAgeMs) {
      this.#logs.delete(channel);
      return undefined;
    }
    return log;
  }

  /** What a channel without a log looks like; the bucket is maxAge so an expiry changes the epoch. */
  #unwritten(channel: string, now: number): ChannelState {
    return { epoch: unwrittenEpoch(this.#salt, channel, now, this.#opts.maxAgeMs), first: 1, last: 0 };
  }

  #trim(log: ChannelLog, now: number): void {
    const { maxLength, maxAgeMs } = this.#opts;
    while (log.entries.length - log.head > maxLength) log.head++;
    const oldest = now - maxAgeMs;
    while (log.head < log.entries.length && (log.entries[log.head] as Entry).time < oldest) log.head++;
    // Compact once the dead prefix outweighs the live part, keeping push/trim amortised O(1).
    if (log.head > 1024 && log.head > log.entries.length - log.head) {
      log.entries = log.entries.slice(log.head);
      log.head = 0;
    }
  }

  #emit(entry: Entry): void {
    const report = this.#opts.onListenerError;
    for (const l of this.#followers.get(entry.channel) ?? []) callListener(l, entry, entry.channel, report);
    this.#patternFollowers.match(entry.channel, (l) => callListener(l, entry, entry.channel, report));
  }

  #sweep(now: number): void {
    for (const [channel, log] of this.#logs) {
      if (now - log.lastAppendAt > this.#opts.maxAgeMs) {
        this.#logs.delete(channel);
        continue;
      }
      for (const [id, d] of log.dedup) if (d.expiresAt <= now) log.dedup.delete(id);
    }
    for (const [channel, members] of this.#presence) {
      for (const [id, m] of members) if (m.expiresAt <= now) members.delete(id);
      if (members.size === 0) this.#presence.delete(channel);
    }
    this.kv.sweep(now);
  }
}
