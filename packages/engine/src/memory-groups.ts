import { compilePattern } from '@tributary/protocol';
import type { ConsumerGroups, Entry, GroupEntry, GroupLag } from './types.js';

/** Reads a channel's retained entries after an offset, synchronously, with its epoch and last offset. */
export type SyncReader = (channel: string, after: number, limit: number) => { epoch: string; last: number; entries: Entry[] };

/** An entry handed out and not acked: to whom, when, and how many times. */
interface Pending {
  consumer: string;
  at: number;
  deliveries: number;
  entry: Entry;
}

interface Cursor {
  epoch: string;
  /** Highest offset handed out (or skipped) so far. */
  last: number;
  pending: Map<number, Pending>;
}

interface Group {
  key: string;
  match: (channel: string) => boolean;
  cursors: Map<string, Cursor>;
}

/** Consumer groups for the embedded engine, with the same semantics as Redis Streams groups. */
export class MemoryGroups implements ConsumerGroups {
  readonly #read: SyncReader;
  readonly #groups = new Map<string, Group>();

  constructor(read: SyncReader) {
    this.#read = read;
  }

  /** Called by the engine on every append: a matching group starts tracking a new channel here. */
  onAppend(entry: Entry): void {
    for (const g of this.#groups.values()) {
      if (g.cursors.has(entry.channel) || !g.match(entry.channel)) continue;
      g.cursors.set(entry.channel, { epoch: entry.epoch, last: entry.offset - 1, pending: new Map() });
    }
  }

  async register(group: string, patterns: readonly string[]): Promise<void> {
    const key = patterns.join(' ');
    const g = this.#groups.get(group);
    if (g !== undefined && g.key === key) return;
    const matchers = patterns.map(compilePattern);
    const match = (channel: string): boolean => matchers.some((m) => m(channel));
    this.#groups.set(group, { key, match, cursors: g?.cursors ?? new Map() });
  }

  async unregister(group: string): Promise<void> {
    this.#groups.delete(group);
  }

  async read(group: string, consumer: string, count: number): Promise<GroupEntry[]> {
    const g = this.#groups.get(group);
    if (g === undefined) return [];
    const out: GroupEntry[] = [];
    const now = Date.now();
    for (const [channel, cursor] of g.cursors) {
      if (out.length >= count) break;
      const { epoch, entries } = this.#read(channel, cursor.last, count - out.length);
      if (epoch !== cursor.epoch) {
        // The history was reset: the old epoch's pending entries are gone with it.
        cursor.epoch = epoch;
        cursor.last = 0;
        cursor.pending.clear();
        continue;
      }
      for (const entry of entries) {
        const gap = entry.offset - cursor.last - 1;
        cursor.last = entry.offset;
        cursor.pending.set(entry.offset, { consumer, at: now, deliveries: 1, entry });
        out.push(gap > 0 ? { ...entry, deliveries: 1, gapBefore: gap } : { ...entry, deliveries: 1 });
      }
    }
    return out;
  }

  async ack(group: string, channel: string, offsets: number[]): Promise<void> {
    const cursor = this.#groups.get(group)?.cursors.get(channel);
    if (cursor === undefined) return;
    for (const o of offsets) cursor.pending.delete(o);
  }

  async claim(group: string, consumer: string, minIdleMs: number, count: number): Promise<GroupEntry[]> {
    const now = Date.now();
    return this.#handOver(group, consumer, count, (p) => now - p.at >= minIdleMs, true);
  }

  async redeliver(group: string, consumer: string, count: number): Promise<GroupEntry[]> {
    return this.#handOver(group, consumer, count, (p) => p.consumer === consumer, false);
  }

  /** Hands `consumer` up to `count` pending entries that `pick` takes; their idle time restarts. */
  #handOver(group: string, consumer: string, count: number, pick: (p: Pending) => boolean, counted: boolean): GroupEntry[] {
    const g = this.#groups.get(group);
    if (g === undefined) return [];
    const now = Date.now();
    const out: GroupEntry[] = [];
    for (const cursor of g.cursors.values()) {
      for (const p of cursor.pending.values()) {
        if (out.length >= count) return out;
        if (!pick(p)) continue;
        p.consumer = consumer;
        p.at = now;
        if (counted) p.deliveries++;
        out.push({ ...p.entry, deliveries: p.deliveries });
      }
    }
    return out;
  }

  async pending(group: string): Promise<number> {
    let n = 0;
    for (const c of this.#groups.get(group)?.cursors.values() ?? []) n += c.pending.size;
    return n;
  }

  async lag(group: string): Promise<GroupLag> {
    const out: GroupLag = { pending: 0, unread: 0 };
    const older = (time: number): void => {
      if (out.oldestTime === undefined || time < out.oldestTime) out.oldestTime = time;
    };
    for (const [channel, cursor] of this.#groups.get(group)?.cursors ?? []) {
      out.pending += cursor.pending.size;
      for (const p of cursor.pending.values()) older(p.entry.time);
      // After a reset (another epoch) the group starts the new epoch from its beginning, as read() does.
      let r = this.#read(channel, cursor.last, 1);
      if (r.epoch !== cursor.epoch) r = this.#read(channel, 0, 1);
      const first = r.entries[0];
      if (first !== undefined) {
        out.unread += r.last - first.offset + 1;
        older(first.time);
      }
    }
    return out;
  }
}
