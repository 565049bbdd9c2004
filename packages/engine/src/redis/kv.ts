import type { KeyValueStore } from '../types.js';
import type { CommandClient } from './client.js';
import { kvKey } from './keys.js';

/** Runs one store operation with the engine's readiness wait, deadline and error mapping. */
export type Runner = <T>(what: string, op: () => Promise<T>) => Promise<T>;

/** The Redis engine's key-value store: plain string keys under `<prefix>kv:{<namespace>}:`. */
export class RedisKeyValue implements KeyValueStore {
  readonly #client: CommandClient;
  readonly #prefix: string;
  readonly #run: Runner;

  constructor(client: CommandClient, prefix: string, run: Runner) {
    this.#client = client;
    this.#prefix = prefix;
    this.#run = run;
  }

  async get(namespace: string, key: string): Promise<string | undefined> {
    const v = await this.#run('kv.get', () => this.#client.get(kvKey(this.#prefix, namespace, key)));
    return v ?? undefined;
  }

  async set(namespace: string, key: string, value: string, ttlMs?: number): Promise<void> {
    const k = kvKey(this.#prefix, namespace, key);
    await this.#run('kv.set', () => (ttlMs === undefined ? this.#client.set(k, value) : this.#client.set(k, value, 'PX', ttlMs)));
  }

  async incr(namespace: string, key: string, by: number, ttlMs?: number): Promise<number> {
    const k = kvKey(this.#prefix, namespace, key);
    return this.#run('kv.incr', () => this.#client.tribIncr(k, by, ttlMs ?? 0));
  }

  async del(namespace: string, key: string): Promise<boolean> {
    const n = await this.#run('kv.del', () => this.#client.del(kvKey(this.#prefix, namespace, key)));
    return n > 0;
  }

  async claim(namespace: string, key: string, value: string, ttlMs: number): Promise<boolean> {
    const k = kvKey(this.#prefix, namespace, key);
    const r = await this.#run('kv.claim', () => this.#client.set(k, value, 'PX', ttlMs, 'NX'));
    return r === 'OK';
  }
}
