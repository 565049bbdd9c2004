import { readFile } from 'node:fs/promises';
import type { BlobInfo, BlobStore } from './blobs.js';
import { ImageError, ImageErrorCodes } from './errors.js';
import { isMissing, readHead } from './local-files.js';

/**
 * What to decode: bytes in memory, or a file that libvips reads itself (no copy through a JS Buffer,
 * so a busy server does not churn megabytes of external memory per image through V8's GC).
 */
export type ImageInput = Buffer | ImageFile;

/** A local file and its size in bytes. */
export interface ImageFile {
  path: string;
  bytes: number;
}

/**
 * A stored object as decoder input: its file when the store is on local disk (libvips reads it
 * directly), else its bytes. NOT_FOUND when it does not exist.
 */
export async function readInput(store: BlobStore, key: string): Promise<{ info: BlobInfo; input: ImageInput }> {
  const f =
    store.file === undefined
      ? await store.get(key).then((o) => o && { info: o.info, input: o.data as ImageInput })
      : await store.file(key).then((o) => o && { info: o.info, input: { path: o.path, bytes: o.info.bytes } });
  if (f === undefined) throw new ImageError(ImageErrorCodes.NOT_FOUND, `no object ${key}`);
  return f;
}

/** The input's size in bytes. */
export function sizeOf(input: ImageInput): number {
  return Buffer.isBuffer(input) ? input.length : input.bytes;
}

/** The input as sharp takes it: its bytes, or its file's path. */
export function pathOrBytes(input: ImageInput): Buffer | string {
  return Buffer.isBuffer(input) ? input : input.path;
}

/**
 * A whole file (a GIF too large for the pooled read, checked for truncation), read on the thread
 * pool: it may be up to maxInputBytes, or on a network file system. A missing file is NOT_FOUND.
 */
export async function readWhole(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    if (isMissing(err)) throw new ImageError(ImageErrorCodes.NOT_FOUND, 'the stored object is gone');
    throw err;
  }
}

/** The first `n` bytes of a file (fewer if it is shorter); a missing file is NOT_FOUND. */
export function head(path: string, n = 64, into?: Buffer): Buffer {
  try {
    return readHead(path, n, into);
  } catch (err) {
    if (isMissing(err)) throw new ImageError(ImageErrorCodes.NOT_FOUND, 'the stored object is gone');
    throw err;
  }
}
