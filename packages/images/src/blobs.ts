import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { ImageError, ImageErrorCodes } from './errors.js';

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

/**
 * Where uploads and derived images live. Keys are validated by every implementation
 * ({@link assertBlobKey}). An S3-compatible store implements the same four calls (PutObject,
 * GetObject, HeadObject, DeleteObject) with the content hash kept as object metadata.
 */
export interface BlobStore {
  put(key: string, data: Buffer, contentType: string): Promise<BlobInfo>;
  /** The object and its info, or undefined. */
  get(key: string): Promise<{ info: BlobInfo; data: Buffer } | undefined>;
  head(key: string): Promise<BlobInfo | undefined>;
  /** True when something was deleted. */
  delete(key: string): Promise<boolean>;
}

/** The ETag of some content. */
export function etagOf(data: Buffer): string {
  return `"sha256:${createHash('sha256').update(data).digest('hex').slice(0, 32)}"`;
}

/**
 * A BlobStore on local disk under `root`: `root/data/<key>` holds the bytes, `root/meta/<key>.json`
 * the info. Writes go to a temp file in `root/tmp` and are renamed into place (atomic on one file
 * system), so a reader never sees half an object; the data is renamed before the meta, and an object
 * is visible only once its meta exists.
 */
export class DiskBlobStore implements BlobStore {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  async put(key: string, data: Buffer, contentType: string): Promise<BlobInfo> {
    const info: BlobInfo = { key, contentType, bytes: data.length, etag: etagOf(data), createdAt: Date.now() };
    const [dataPath, metaPath] = this.#paths(key);
    await this.#atomicWrite(dataPath, data);
    await this.#atomicWrite(metaPath, Buffer.from(JSON.stringify(info)));
    return info;
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

  async head(key: string): Promise<BlobInfo | undefined> {
    try {
      return JSON.parse(await readFile(this.#paths(key)[1], 'utf8')) as BlobInfo;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<boolean> {
    const [dataPath, metaPath] = this.#paths(key);
    const existed = await stat(metaPath).then(() => true, () => false);
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

  async #atomicWrite(path: string, data: Buffer): Promise<void> {
    const tmpDir = join(this.root, 'tmp');
    const tmp = join(tmpDir, `${randomBytes(12).toString('hex')}.part`);
    try {
      await mkdir(tmpDir, { recursive: true });
      await mkdir(dirname(path), { recursive: true });
      await writeFile(tmp, data);
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new ImageError(ImageErrorCodes.BACKEND_ERROR, `blob store write failed: ${(err as Error).message}`, { cause: err });
    }
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

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
