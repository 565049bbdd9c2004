import type { KeyValueStore } from '@tributary/engine';
import { BlockError, BlockErrorCodes } from './errors.js';

/**
 * Characters of keys and values an overlay holds at most. The writes live in the node's own heap,
 * not the runner's: a replayed version writing 64 KiB values under new keys, 1000 times per input,
 * would otherwise make the node hold gigabytes (and die of it).
 */
export const MAX_OVERLAY_CHARS = 16 * 1024 * 1024;

/**
 * A key-value store that reads through to `base` and keeps its own writes in memory: what a block
 * version being replayed sees of its kv. It starts from the deployed block's state (so a block that
 * remembers what it handled answers as the deployed one would) and changes none of it. TTLs are not
 * kept: a replay is short.
 */
export class OverlayKv implements KeyValueStore {
  readonly #base: KeyValueStore;
  /** `<namespace>\n<key>` → value, or null for deleted. */
  readonly #writes = new Map<string, string | null>();
  readonly #max: number;
  #chars = 0;

  constructor(base: KeyValueStore, maxChars = MAX_OVERLAY_CHARS) {
    this.#base = base;
    this.#max = maxChars;
  }

  async get(namespace: string, key: string): Promise<string | undefined> {
    const w = this.#writes.get(`${namespace}\n${key}`);
    if (w === null) return undefined;
    return w ?? this.#base.get(namespace, key);
  }

  async set(namespace: string, key: string, value: string): Promise<void> {
    this.#put(namespace, key, value);
  }

  async incr(namespace: string, key: string, by: number): Promise<number> {
    // As the engines do: a value that is not an integer is refused, not turned into NaN.
    const current = Number.parseInt((await this.get(namespace, key)) ?? '0', 10);
    if (!Number.isSafeInteger(current)) throw new TypeError(`kv ${key} does not hold an integer`);
    const n = current + by;
    this.#put(namespace, key, String(n));
    return n;
  }

  async del(namespace: string, key: string): Promise<boolean> {
    const had = (await this.get(namespace, key)) !== undefined;
    this.#put(namespace, key, null);
    return had;
  }

  async claim(namespace: string, key: string, value: string): Promise<boolean> {
    if ((await this.get(namespace, key)) !== undefined) return false;
    this.#put(namespace, key, value);
    return true;
  }

  /** Keeps a write, refused (PAYLOAD_TOO_LARGE, as a kv value over its cap) once the overlay is full. */
  #put(namespace: string, key: string, value: string | null): void {
    const k = `${namespace}\n${key}`;
    const old = this.#writes.get(k);
    const chars = this.#chars - (old === undefined ? 0 : k.length + (old?.length ?? 0)) + k.length + (value?.length ?? 0);
    if (chars > this.#max) {
      throw new BlockError(
        BlockErrorCodes.PAYLOAD_TOO_LARGE,
        `a replay keeps its kv writes in memory, at most ${this.#max / 1024 / 1024} MiB of them; this write would pass that`,
      );
    }
    this.#chars = chars;
    this.#writes.set(k, value);
  }
}
