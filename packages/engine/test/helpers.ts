import { eventually } from '@tributary/testkit';
import type { Redis } from 'ioredis';
import type { Entry, EntryListener } from '../src/index.js';

/** A channel name no other test uses (tests may share one store). */
export function uniqueChannel(base: string): string {
  return `${base}.t${Math.random().toString(36).slice(2, 10)}`;
}

/** Records what a follow delivers. */
export interface Collector {
  entries: Entry[];
  listener: EntryListener;
  /** Resolves once at least `n` entries arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<Entry[]>;
  offsets(): number[];
}

export function collector(): Collector {
  const entries: Entry[] = [];
  return {
    entries,
    listener: (e) => entries.push(e),
    async waitFor(n, timeoutMs) {
      await eventually(() => entries.length >= n, { message: () => `${n} entries (got ${entries.length})`, timeoutMs });
      return entries;
    },
    offsets: () => entries.map((e) => e.offset),
  };
}

/** [from, from+1, …, to] */
export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Counts the keys under `prefix` on each server by SCAN (never KEYS or FLUSHALL: the server is shared). */
export async function countKeys(servers: Array<Pick<Redis, 'scan'>>, prefix: string): Promise<number> {
  const glob = `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;
  let n = 0;
  for (const s of servers) {
    let cursor = '0';
    do {
      const [next, keys] = await s.scan(cursor, 'MATCH', glob, 'COUNT', 1000);
      cursor = next;
      n += keys.length;
    } while (cursor !== '0');
  }
  return n;
}
