import { writeFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { resolveSyncWriteMaxBytes } from './blobs.js';
import type { ImageFormat } from './spec.js';

/** One cached rendition. */
export interface CachedImage {
  data: Buffer;
  contentType: string;
  format: ImageFormat;
  width: number;
  height: number;
  etag: string;
}

type CacheEntry = Omit<CachedImage, 'data'> & { bytes: number };

/**
 * A disk cache bounded in bytes with least-recently-used eviction. The index lives in memory (a Map
 * in recency order); the directory is emptied at start, so the cache is per process and a crash can
 * never leave it over its bound. Writes are behind: an entry is served from memory from the moment
 * it is set until its file is written, so a caller need not wait for the disk before answering.
 */
export class DiskLruCache {
  readonly dir: string;
  readonly maxBytes: number;
  /** Entries up to this size are written synchronously (see DiskBlobStoreOptions.syncWriteMaxBytes). */
  readonly syncWriteMaxBytes: number;
  readonly #index = new Map<string, CacheEntry>();
  /** Entries whose file is being written, and the write. */
  readonly #writing = new Map<string, { value: CachedImage; done: Promise<void> }>();
  #bytes = 0;
  #ready: Promise<void> | undefined;

  constructor(options: { dir: string; maxBytes: number; syncWriteMaxBytes?: number }) {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes <= 0)
      throw new TypeError(`cache maxBytes must be a positive integer, got ${options.maxBytes}`);
    this.dir = resolve(options.dir);
    this.maxBytes = options.maxBytes;
    this.syncWriteMaxBytes = resolveSyncWriteMaxBytes(options.syncWriteMaxBytes);
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Keys, least recently used first. */
  keys(): string[] {
    return [...this.#index.keys()];
  }

  async get(key: string): Promise<CachedImage | undefined> {
    const e = this.#index.get(key);
    if (e === undefined) return undefined;
    this.#index.delete(key);
    this.#index.set(key, e);
    const writing = this.#writing.get(key);
    if (writing !== undefined) return writing.value;
    let data: Buffer;
    try {
      data = await readFile(this.#file(key));
    } catch {
      this.#drop(key);
      return undefined;
    }
    return { ...e, data };
  }

  /**
   * Stores an entry, visible at once, and evicts least recently used ones until the total fits;
   * resolves when its file is written. Larger than the bound: not stored.
   */
  set(key: string, value: CachedImage): Promise<void> {
    if (value.data.length > this.maxBytes) return Promise.resolve();
    this.#drop(key);
    const { data, ...meta } = value;
    this.#index.set(key, { ...meta, bytes: data.length });
    this.#bytes += data.length;
    const evicted: string[] = [];
    while (this.#bytes > this.maxBytes) {
      const oldest = this.#index.keys().next().value as string;
      this.#drop(oldest);
      evicted.push(oldest);
    }
    const previous = this.#writing.get(key)?.done ?? Promise.resolve();
    const done = (async () => {
      await this.#init();
      await previous; // two writes of one key land in order
      if (data.length <= this.syncWriteMaxBytes) writeFileSync(this.#file(key), data);
      else await writeFile(this.#file(key), data);
      // An evicted file is removed once any write of it in flight has landed, so none is orphaned.
      await Promise.all(
        evicted.map(async (k) => {
          await this.#writing.get(k)?.done.catch(() => {});
          if (!this.#index.has(k)) await rm(this.#file(k), { force: true });
        }),
      );
    })().finally(() => {
      if (this.#writing.get(key)?.done === done) this.#writing.delete(key);
    });
    this.#writing.set(key, { value, done });
    return done;
  }

  #drop(key: string): void {
    const e = this.#index.get(key);
    if (e === undefined) return;
    this.#index.delete(key);
    this.#bytes -= e.bytes;
  }

  #file(key: string): string {
    // Keys are hex digests (see OnTheFly), so they are safe file names.
    return join(this.dir, `${key}.bin`);
  }

  #init(): Promise<void> {
    this.#ready ??= (async () => {
      await rm(this.dir, { recursive: true, force: true });
      await mkdir(this.dir, { recursive: true });
    })();
    return this.#ready;
  }
}
