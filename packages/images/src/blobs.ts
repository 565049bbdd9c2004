import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { ImageError, ImageErrorCodes } from './errors.js';
import { isMissing, readHead } from './local-files.js';
import { clampRange, exactly, type ByteRange } from './stream-bounds.js';

export type { ByteRange } from './stream-bounds.js';

/**
 * Blob keys: `/`-separated segments of `A-Z a-z 0-9 . _ -`, each starting with a letter or digit (so
 * no `.`, `..`, hidden files or empty segments), at most 512 characters. Keys are the same on every
 * store, so they can be used as S3 object keys as they are.
 */
export const BLOB_KEY = /^(?=.{1,512}$)[A-Za-z0-9][A-Za-z0-9._-]*(?:\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

/** True when `key` is a valid blob key. */
export function isValidBlobKey(key: unknown): key is string {
  return typeof key === 'string' && BLOB_KEY.test(key);
}

/** Throws ImageError(INVALID_KEY) unless `key` is valid. */
export function assertBlobKey(key: unknown): asserts key is string {
  if (!isValidBlobKey(key)) throw new ImageError(ImageErrorCodes.INVALID_KEY, `invalid blob key ${JSON.stringify(key)}`);
}

/** What a store knows about an object. */
export interface BlobInfo {
  key: string;
  contentType: string;
  bytes: number;
  /** Strong ETag, quoted (`"sha256:<first 32 hex>"`): a hash of the content. */
  etag: string;
  /** ms since the Unix epoch. */
  createdAt: number;
}

/** An object being read: its info and a stream of its bytes (of `range` when one was asked). */
export interface BlobStream {
  info: BlobInfo;
  body: Readable;
  /** The bytes `body` holds, clamped to the object: `end - start + 1` of them. */
  range: { start: number; end: number };
}

/** Options of {@link BlobStore.putStream}. */
export interface PutStreamOptions {
  /**
   * The body's exact length, when the caller knows it (an HTTP request's Content-Length): an S3
   * store then streams it in one PUT with no buffering. A body that ends shorter or runs longer
   * fails the put (nothing is stored).
   */
  bytes?: number;
}

/**
 * A store clients can upload to directly, without the bytes passing through the broker (S3: a
 * presigned PUT). The upload lands in a pending place no reader sees; the broker inspects it and
 * then commits it as the object `key`, or discards it.
 */
export interface DirectUploads {
  /**
   * A URL to PUT exactly `bytes` bytes of `contentType` to, for `expiresInSeconds`; both are bound
   * into its signature, so the store refuses any other size or type. `headers` must be sent as given.
   */
  presignPut(
    key: string,
    o: { bytes: number; contentType: string; expiresInSeconds: number },
  ): Promise<{ url: string; method: 'PUT'; headers: Record<string, string> }>;
  /**
   * The pending upload for `key`: its size, its first `headBytes` bytes and a version that
   * {@link commit} checks is unchanged; undefined when nothing was uploaded yet.
   */
  inspect(key: string, headBytes: number): Promise<{ bytes: number; head: Buffer; version: string } | undefined>;
  /** Makes the pending upload (the `version` inspected, no other) the object `key`, and removes the pending one. */
  commit(key: string, o: { contentType: string; version: string; bytes: number }): Promise<BlobInfo>;
  /** Removes a pending upload (one that was refused). */
  discard(key: string): Promise<void>;
}

/**
 * Where uploads and derived images live. Keys are validated by every implementation
 * ({@link assertBlobKey}). Implementations: {@link DiskBlobStore} (the default), `S3BlobStore`
 * (s3-blobs.ts), {@link MemoryBlobStore}; all pass one contract suite (test/blob-store-contract.test.ts).
 * The streaming calls are optional so that a minimal store (four calls) still works: use
 * {@link putStreamTo} and {@link openBlob}, which fall back to `put` and `get`.
 */
export interface BlobStore {
  put(key: string, data: Buffer, contentType: string): Promise<BlobInfo>;
  /**
   * Stores a body as it arrives, without holding all of it; atomic as `put` is (a body that fails
   * half-way, or a store that goes away, leaves nothing visible and the old object, if any, in place).
   * The body's errors reject the put, unchanged.
   */
  putStream?(key: string, body: AsyncIterable<Uint8Array>, contentType: string, options?: PutStreamOptions): Promise<BlobInfo>;
  /** The object and its info, or undefined. */
  get(key: string): Promise<{ info: BlobInfo; data: Buffer } | undefined>;
  /**
   * The object's bytes as a stream (of `range` when given), or undefined when there is none. A range
   * starting at or past the end is INVALID_SPEC; its end is clamped to the object.
   */
  stream?(key: string, range?: ByteRange): Promise<BlobStream | undefined>;
  head(key: string): Promise<BlobInfo | undefined>;
  /**
   * Optional, for stores on local disk: the object's info and the file holding its bytes, so a
   * decoder reads it directly instead of through a Buffer. The file may be replaced (by rename)
   * or removed at any time after this returns.
   */
  file?(key: string): Promise<{ info: BlobInfo; path: string } | undefined>;
  /** True when something was deleted. */
  delete(key: string): Promise<boolean>;
  /**
   * Optional, for remote stores: checks once that the store answers and the credentials work
   * (S3: HeadBucket), throwing the typed error a request would meet. The node calls it at start.
   */
  check?(): Promise<void>;
  /** Present when clients can upload to the store directly (S3). */
  readonly direct?: DirectUploads;
}

/** The ETag of some content. */
export function etagOf(data: Buffer): string {
  return `"sha256:${createHash('sha256').update(data).digest('hex').slice(0, 32)}"`;
}

/** Options of {@link DiskBlobStore}. */
export interface DiskBlobStoreOptions {
  /**
   * Objects up to this many bytes (thumbnails, derived images) are written with synchronous calls
   * on the event loop; larger ones through libuv's thread pool. On an image server the pool is busy
   * with libvips (a transform holds a pool thread for its whole run), and each of a put's eight file
   * operations (two temp files written, two renames) is a round trip through it: measured side by
   * side on 2 cores under transform load, async puts of 9 KiB thumbnails cost about 4 % of transform
   * throughput (on tmpfs, so not the disk), synchronous ones nothing measurable. The catch: the event
   * loop waits for the file system meanwhile, which on local disk is page-cache speed but on a
   * network file system is a network round trip per call (set 0 there). 0 writes everything async.
   * @defaultValue 65_536
   */
  syncWriteMaxBytes: number;
}

export const DEFAULT_SYNC_WRITE_MAX_BYTES = 64 * 1024;

/** Checks a `syncWriteMaxBytes` option, naming it. */
export function resolveSyncWriteMaxBytes(v: number | undefined): number {
  const n = v ?? DEFAULT_SYNC_WRITE_MAX_BYTES;
  if (!Number.isSafeInteger(n) || n < 0) throw new TypeError(`syncWriteMaxBytes must be a non-negative integer, got ${String(v)}`);
  return n;
}

/**
 * A BlobStore on local disk under `root`: `root/data/<key>` holds the bytes, `root/meta/<key>.json`
 * the info. Writes go to a temp file in `root/tmp` and are renamed into place (atomic on one file
 * system), so a reader never sees half an object; the data is renamed before the meta, and an object
 * is visible only once its meta exists.
 */
export class DiskBlobStore implements BlobStore {
  readonly root: string;
  readonly syncWriteMaxBytes: number;

  constructor(root: string, options: Partial<DiskBlobStoreOptions> = {}) {
    this.root = resolve(root);
    this.syncWriteMaxBytes = resolveSyncWriteMaxBytes(options.syncWriteMaxBytes);
  }

  async put(key: string, data: Buffer, contentType: string): Promise<BlobInfo> {
    const info: BlobInfo = { key, contentType, bytes: data.length, etag: etagOf(data), createdAt: Date.now() };
    const [dataPath, metaPath] = this.#paths(key);
    const meta = Buffer.from(JSON.stringify(info));
    if (data.length <= this.syncWriteMaxBytes) {
      this.#putSync(data, dataPath, meta, metaPath);
      return info;
    }
    // Both temp files are written at once; the data is renamed into place before the meta, so the
    // object becomes visible (its meta exists) only with its bytes in place.
    const [dataTmp, metaTmp] = await Promise.all([this.#temp(data), this.#temp(meta)]);
    try {
      await this.#place(dataTmp, dataPath);
      await this.#place(metaTmp, metaPath);
    } catch (err) {
      await Promise.all([rm(dataTmp, { force: true }), rm(metaTmp, { force: true })]);
      throw storeError(err);
    }
    return info;
  }

  /** {@link put}'s steps, in the same order, with synchronous calls (see syncWriteMaxBytes). */
  #putSync(data: Buffer, dataPath: string, meta: Buffer, metaPath: string): void {
    const dataTmp = this.#tempName();
    const metaTmp = this.#tempName();
    try {
      inParentDirSync(dataTmp, () => writeFileSync(dataTmp, data));
      inParentDirSync(metaTmp, () => writeFileSync(metaTmp, meta));
      inParentDirSync(dataPath, () => renameSync(dataTmp, dataPath));
      inParentDirSync(metaPath, () => renameSync(metaTmp, metaPath));
    } catch (err) {
      rmSync(dataTmp, { force: true });
      rmSync(metaTmp, { force: true });
      throw storeError(err);
    }
  }

  /**
   * Writes the body to a temp file as it arrives (hashing it on the way), then places it as
   * {@link put} does. A body that fails leaves only the temp file, which is removed.
   */
  async putStream(key: string, body: AsyncIterable<Uint8Array>, contentType: string, options: PutStreamOptions = {}): Promise<BlobInfo> {
    const [dataPath, metaPath] = this.#paths(key);
    const dataTmp = this.#tempName();
    const metaTmp = this.#tempName();
    const hash = createHash('sha256');
    let bytes = 0;
    // The body's own errors (an aborted request, a cap passed) reach the caller unchanged; the
    // file system's are BACKEND_ERROR.
    let bodyFailed = false;
    const source = async function* (): AsyncGenerator<Uint8Array> {
      try {
        yield* exactly(body, options.bytes);
      } catch (err) {
        bodyFailed = true;
        throw err;
      }
    };
    try {
      const fh = await inParentDir(dataTmp, () => open(dataTmp, 'wx'));
      try {
        // Chunks are gathered up to WRITE_BATCH_BYTES per write: one thread-pool round trip per
        // batch instead of per socket read (16–64 KiB each).
        let batch: Uint8Array[] = [];
        let batched = 0;
        for await (const c of source()) {
          hash.update(c);
          bytes += c.length;
          batch.push(c);
          batched += c.length;
          if (batched >= WRITE_BATCH_BYTES) {
            await fh.writev(batch);
            batch = [];
            batched = 0;
          }
        }
        if (batch.length > 0) await fh.writev(batch);
      } finally {
        await fh.close();
      }
      const info: BlobInfo = { key, contentType, bytes, etag: `"sha256:${hash.digest('hex').slice(0, 32)}"`, createdAt: Date.now() };
      await writeFile(metaTmp, JSON.stringify(info));
      await this.#place(dataTmp, dataPath);
      await this.#place(metaTmp, metaPath);
      return info;
    } catch (err) {
      await Promise.all([rm(dataTmp, { force: true }), rm(metaTmp, { force: true })]);
      throw bodyFailed ? err : storeError(err);
    }
  }

  /** The object's file as a stream (of `range` when given). */
  async stream(key: string, range?: ByteRange): Promise<BlobStream | undefined> {
    const info = await this.head(key);
    if (info === undefined) return undefined;
    const r = clampRange(range, info.bytes);
    // Opened before it is returned, so a missing file is `undefined` here and not an error later.
    let fh: Awaited<ReturnType<typeof open>>;
    try {
      fh = await open(this.#paths(key)[0], 'r');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    if (info.bytes === 0) {
      await fh.close();
      return { info, body: Readable.from([]), range: r };
    }
    return { info, body: createReadStream('', { fd: fh, start: r.start, end: r.end }), range: r };
  }

  async get(key: string): Promise<{ info: BlobInfo; data: Buffer } | undefined> {
    const info = await this.head(key);
    if (info === undefined) return undefined;
    try {
      return { info, data: await readFile(this.#paths(key)[0]) };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async file(key: string): Promise<{ info: BlobInfo; path: string } | undefined> {
    const info = await this.head(key);
    return info === undefined ? undefined : { info, path: this.#paths(key)[0] };
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    try {
      return JSON.parse(readHead(this.#paths(key)[1], META_MAX_BYTES, metaScratch).toString('utf8')) as BlobInfo;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<boolean> {
    const [dataPath, metaPath] = this.#paths(key);
    const existed = await stat(metaPath).then(
      () => true,
      () => false,
    );
    await rm(metaPath, { force: true });
    await rm(dataPath, { force: true });
    return existed;
  }

  #paths(key: string): [string, string] {
    assertBlobKey(key);
    const dataRoot = join(this.root, 'data');
    const metaRoot = join(this.root, 'meta');
    const d = resolve(dataRoot, key);
    const m = resolve(metaRoot, `${key}.json`);
    // The key regex already excludes traversal; this is the second lock on the same door.
    if (!d.startsWith(dataRoot + sep) || !m.startsWith(metaRoot + sep)) {
      throw new ImageError(ImageErrorCodes.INVALID_KEY, `blob key ${JSON.stringify(key)} leaves the store`);
    }
    return [d, m];
  }

  #tempName(): string {
    return join(this.root, 'tmp', `${randomBytes(12).toString('hex')}.part`);
  }

  /** Writes `data` to a new temp file and returns its path. */
  async #temp(data: Buffer): Promise<string> {
    const tmp = this.#tempName();
    try {
      // The first write into a new store, or after someone removed tmp/, makes the directory.
      await inParentDir(tmp, () => writeFile(tmp, data));
      return tmp;
    } catch (err) {
      await rm(tmp, { force: true });
      throw storeError(err);
    }
  }

  /** Renames a temp file into place, making the parent directories only when they are missing. */
  async #place(tmp: string, path: string): Promise<void> {
    await inParentDir(path, () => rename(tmp, path));
  }
}

/**
 * Runs a file operation that creates `path`; when its directory is missing (ENOENT), makes it and
 * runs the operation once more. Directories are made only when needed, not checked on every write.
 */
async function inParentDir<T>(path: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(dirname(path), { recursive: true });
    return op();
  }
}

/** {@link inParentDir} with synchronous calls. */
function inParentDirSync<T>(path: string, op: () => T): T {
  try {
    return op();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(dirname(path), { recursive: true });
    return op();
  }
}

/** A BlobStore in memory, for tests and throwaway nodes. */
export class MemoryBlobStore implements BlobStore {
  readonly #objects = new Map<string, { info: BlobInfo; data: Buffer }>();

  async put(key: string, data: Buffer, contentType: string): Promise<BlobInfo> {
    assertBlobKey(key);
    const info: BlobInfo = { key, contentType, bytes: data.length, etag: etagOf(data), createdAt: Date.now() };
    this.#objects.set(key, { info, data: Buffer.from(data) });
    return info;
  }

  async get(key: string): Promise<{ info: BlobInfo; data: Buffer } | undefined> {
    assertBlobKey(key);
    return this.#objects.get(key);
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    assertBlobKey(key);
    return this.#objects.get(key)?.info;
  }

  async delete(key: string): Promise<boolean> {
    assertBlobKey(key);
    return this.#objects.delete(key);
  }
}

/** A streamed put writes at least this much per call (see DiskBlobStore.putStream). */
const WRITE_BATCH_BYTES = 256 * 1024;

/** A meta file is at most this big (a key is ≤ 512 characters). */
const META_MAX_BYTES = 4096;
/** Every meta read goes through this one buffer: it is parsed before the next read can start. */
const metaScratch = Buffer.allocUnsafeSlow(META_MAX_BYTES);

function storeError(err: unknown): ImageError {
  if (err instanceof ImageError) return err;
  return new ImageError(ImageErrorCodes.BACKEND_ERROR, `blob store write failed: ${(err as Error).message}`, { cause: err });
}
