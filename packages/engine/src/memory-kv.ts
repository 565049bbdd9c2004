import type { KeyValueStore } from './types.js';

/** The embedded engine's key-value store: one map, lazily expired and swept with the logs. */
export class MemoryKeyValue implements KeyValueStore {
  readonly #items = new Map<string, { value: string; expiresAt: number }>();

  async get(namespace: string, key: string): Promise<string | undefined> {
    return this.#live(namespace, key)?.value;
  }

  async set(namespace: string, key: string, value: string, ttlMs?: number): Promise<void> {
    this.#items.set(k(namespace, key), { value, expiresAt: ttlMs === undefined ? Infinity : Date.now() + ttlMs });
  }

  async incr(namespace: string, key: string, by: number, ttlMs?: number): Promise<number> {
    const item = this.#live(namespace, key);
    const current = item === undefined ? 0 : Number.parseInt(item.value, 10);
    if (!Number.isSafeInteger(current)) throw new TypeError(`kv ${key} does not hold an integer`);
    const next = current + by;
    // Like Redis INCR + PEXPIRE NX: the TTL is set when the counter is created, not on every bump.
    const expiresAt = item?.expiresAt ?? (ttlMs === undefined ? Infinity : Date.now() + ttlMs);
    this.#items.set(k(namespace, key), { value: String(next), expiresAt });
    return next;
  }

  async del(namespace: string, key: string): Promise<boolean> {
    return this.#live(namespace, key) !== undefined && this.#items.delete(k(namespace, key));
  }

  async claim(namespace: string, key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.#live(namespace, key) !== undefined) return false;
    this.#items.set(k(namespace, key), { value, expiresAt: Date.now() + ttlMs });
    return true;
  }

  sweep(now: number): void {
    for (const [key, item] of this.#items) if (item.expiresAt <= now) this.#items.delete(key);
  }

  close(): void {
    this.#items.clear();
  }

  #live(namespace: string, key: string): { value: string; expiresAt: number } | undefined {
    const item = this.#items.get(k(namespace, key));
    if (item === undefined) return undefined;
    if (item.expiresAt <= Date.now()) {
      this.#items.delete(k(namespace, key));
      return undefined;
    }
    return item;
  }
}

function k(namespace: string, key: string): string {
  return `${namespace}\u0000${key}`;
}
