import type { KeyValueStore } from '@tributary/engine';

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

  constructor(base: KeyValueStore) {
    this.#base = base;
  }

  async get(namespace: string, key: string): Promise<string | undefined> {
    const w = this.#writes.get(`${namespace}\n${key}`);
    if (w === null) return undefined;
    return w ?? this.#base.get(namespace, key);
  }

  async set(namespace: string, key: string, value: string): Promise<void> {
    this.#writes.set(`${namespace}\n${key}`, value);
  }

  async incr(namespace: string, key: string, by: number): Promise<number> {
    const n = Number((await this.get(namespace, key)) ?? '0') + by;
    this.#writes.set(`${namespace}\n${key}`, String(n));
    return n;
  }

  async del(namespace: string, key: string): Promise<boolean> {
    const had = (await this.get(namespace, key)) !== undefined;
    this.#writes.set(`${namespace}\n${key}`, null);
    return had;
  }

  async claim(namespace: string, key: string, value: string): Promise<boolean> {
    if ((await this.get(namespace, key)) !== undefined) return false;
    this.#writes.set(`${namespace}\n${key}`, value);
    return true;
  }
}
