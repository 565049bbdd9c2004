import { callListener } from '../listeners.js';
import { patternLimit, type ListenerErrorHandler } from '../options.js';
import { SegmentIndex } from '../segment-index.js';
import type { ChannelState, Entry, EntryListener, Follow, PresenceChange, ReadResult } from '../types.js';
import { Cursor } from './cursor.js';
import { decodeNotification } from './codec.js';
import type { WakeupSink, Wakeups } from './wakeups.js';

/** The log operations follows need from the engine. */
export interface FollowStore {
  readAfter(channel: string, after: number): Promise<ReadResult>;
  state(channel: string): Promise<ChannelState>;
}

/** The engine options follows obey. */
export interface FollowLimits {
  maxPatterns: number;
  onListenerError: ListenerErrorHandler;
}

interface Group<L> {
  listeners: Set<L>;
  /** Settles when the group's subscription (and starting point) is established. */
  ready: Promise<void>;
}
interface ChannelGroup extends Group<EntryListener> {
  cursor: Cursor;
}
interface PatternGroup extends Group<EntryListener> {
  /** The wake-up source its notifications arrive through (a glob, or a Cluster feed). */
  source: string;
  /** One cursor per channel this pattern has seen, for per-channel order. */
  cursors: Map<string, Cursor>;
}

/**
 * Interest-based wake-up: this node subscribes only to the channels (and the pattern sources)
 * someone here follows, once each however many listeners share it, and unsubscribes when the last
 * one closes. How it is woken up — classic or sharded pub/sub — is the {@link Wakeups}' business.
 */
export class Follows implements WakeupSink {
  readonly #wakeups: Wakeups;
  readonly #store: FollowStore;
  readonly #channels = new Map<string, ChannelGroup>();
  readonly #patterns = new Map<string, PatternGroup>();
  /** The same groups as #patterns, by segment: a notification costs nothing per non-matching pattern. */
  readonly #patternIndex = new SegmentIndex<PatternGroup>();
  readonly #presence = new Map<string, Group<(c: PresenceChange) => void>>();
  readonly #limits: FollowLimits;

  constructor(wakeups: Wakeups, store: FollowStore, limits: FollowLimits) {
    this.#wakeups = wakeups;
    this.#store = store;
    this.#limits = limits;
  }

  async follow(channel: string, listener: EntryListener): Promise<Follow> {
    let g = this.#channels.get(channel);
    if (g === undefined) {
      const listeners = new Set<EntryListener>();
      const cursor = new Cursor(
        (after) => this.#store.readAfter(channel, after),
        (e) => this.#fanOut(listeners, e, channel),
      );
      // Subscribe first, then read the state: whatever is appended after the read is notified.
      const ready = this.#wakeups.acquire('channel', channel).then(async () => {
        try {
          const s = await this.#store.state(channel);
          cursor.start(s.epoch, s.last);
        } catch (err) {
          this.#wakeups.release('channel', channel);
          throw err;
        }
      });
      const group: ChannelGroup = { listeners, ready, cursor };
      this.#channels.set(channel, (g = group));
      ready.catch(() => this.#channels.get(channel) === group && this.#drop(channel, group, false));
    }
    return this.#join(g, listener, () => this.#drop(channel, g, true));
  }

  async followPattern(pattern: string, listener: EntryListener): Promise<Follow> {
    let g = this.#patterns.get(pattern);
    if (g === undefined) {
      const max = this.#limits.maxPatterns;
      if (this.#patterns.size >= max) throw patternLimit(pattern, max);
      const source = this.#wakeups.sourceOf(pattern);
      const group: PatternGroup = { listeners: new Set(), ready: this.#wakeups.acquire('pattern', source), source, cursors: new Map() };
      this.#patterns.set(pattern, (g = group));
      this.#patternIndex.add(pattern, group);
      group.ready.catch(() => this.#dropPattern(pattern, group, false));
    }
    const group = g;
    return this.#join(group, listener, () => this.#dropPattern(pattern, group, true));
  }

  async followPresence(channel: string, listener: (change: PresenceChange) => void): Promise<Follow> {
    let g = this.#presence.get(channel);
    if (g === undefined) {
      const group = { listeners: new Set<(c: PresenceChange) => void>(), ready: this.#wakeups.acquire('presence', channel) };
      this.#presence.set(channel, (g = group));
      group.ready.catch(() => this.#presence.get(channel) === group && this.#presence.delete(channel));
    }
    const group = g;
    return this.#join(group, listener, () => {
      if (this.#presence.get(channel) !== group) return;
      this.#presence.delete(channel);
      this.#wakeups.release('presence', channel);
    });
  }

  onEntry(channel: string, raw: string): void {
    const g = this.#channels.get(channel);
    const entry = g && decodeNotification(channel, raw);
    if (entry) g?.cursor.push(entry);
  }

  onPresence(channel: string, raw: string): void {
    const p = this.#presence.get(channel);
    if (p === undefined) return;
    let change: PresenceChange;
    try {
      change = JSON.parse(raw) as PresenceChange;
    } catch {
      return;
    }
    this.#fanOut(p.listeners, change, channel);
  }

  onPatternEntry(source: string, channel: string, raw: string): void {
    let entry: Entry | undefined | null;
    // A channel matching several sources arrives once per source: each delivery serves that source's groups.
    this.#patternIndex.match(channel, (g) => {
      if (g.source !== source) return;
      if (entry === undefined) entry = decodeNotification(channel, raw) ?? null;
      if (entry === null) return;
      let cursor = g.cursors.get(channel);
      if (cursor === undefined) {
        const listeners = g.listeners;
        cursor = new Cursor(
          (after) => this.#store.readAfter(channel, after),
          (e) => this.#fanOut(listeners, e, channel),
        );
        cursor.startAtFirstSeen();
        g.cursors.set(channel, cursor);
      }
      cursor.push(entry);
    });
  }

  /** After the subscriber reconnected: every followed channel re-reads what it may have missed. */
  resync(): void {
    for (const g of this.#channels.values()) g.cursor.resync();
    for (const g of this.#patterns.values()) for (const c of g.cursors.values()) c.resync();
  }

  close(): void {
    for (const g of this.#channels.values()) g.cursor.close();
    for (const g of this.#patterns.values()) for (const c of g.cursors.values()) c.close();
    this.#channels.clear();
    for (const [pattern, g] of this.#patterns) this.#patternIndex.delete(pattern, g);
    this.#patterns.clear();
    this.#presence.clear();
  }

  async #join<L>(g: Group<L>, listener: L, last: () => void): Promise<Follow> {
    // A wrapper per follow, so the same function can follow twice and close independently.
    const own = ((v: unknown) => (listener as (v: unknown) => void)(v)) as L;
    g.listeners.add(own);
    try {
      await g.ready;
    } catch (err) {
      g.listeners.delete(own);
      throw err;
    }
    let open = true;
    return {
      close: async () => {
        if (!open) return;
        open = false;
        g.listeners.delete(own);
        if (g.listeners.size === 0) last();
      },
    };
  }

  #dropPattern(pattern: string, g: PatternGroup, release: boolean): void {
    if (this.#patterns.get(pattern) !== g) return;
    this.#patterns.delete(pattern);
    this.#patternIndex.delete(pattern, g);
    for (const c of g.cursors.values()) c.close();
    if (release) this.#wakeups.release('pattern', g.source);
  }

  /** Every listener gets the value, whatever the others do (see callListener). */
  #fanOut<T>(listeners: Set<(v: T) => void>, value: T, channel: string): void {
    for (const l of listeners) callListener(l, value, channel, this.#limits.onListenerError);
  }

  #drop(channel: string, g: ChannelGroup, release: boolean): void {
    if (this.#channels.get(channel) !== g) return;
    this.#channels.delete(channel);
    g.cursor.close();
    if (release) this.#wakeups.release('channel', channel);
  }
}
