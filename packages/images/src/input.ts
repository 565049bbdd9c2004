import type { BlobInfo, BlobStore } from './blobs.js';
import { ImageError, ImageErrorCodes } from './errors.js';

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
  const f = store.file === undefined ? await store.get(key).then((o) => o && { info: o.info, input: o.data as ImageInput })
    : await store.file(key).then((o) => o && { info: o.info, input: { path: o.path, bytes: o.info.bytes } });
  if (f === undefined) throw new ImageError(ImageErrorCodes.NOT_FOUND, `no object ${key}`);
  return f;
}
