import { closeSync, openSync, readSync } from 'node:fs';

/**
 * Up to `max` bytes from the start of a small local file, read synchronously. These reads (a blob's
 * meta, an image's magic bytes) sit on every transform's path, and on a server whose cores are busy
 * transforming, each thread-pool round trip of an async read waits for a core: measured, readFile's
 * four round trips cost about 1.3 ms per request under load, a synchronous read from the page cache
 * a few microseconds. Object data is never read this way. (On a network file system this would
 * block the event loop for a round trip per call: keep the blob store on local disk.) With `into`
 * (at least `max` bytes), the bytes land there and the result is a view of it, valid until the next
 * read into the same buffer.
 */
export function readHead(path: string, max: number, into?: Buffer): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buffer = into !== undefined && into.length >= max ? into : Buffer.allocUnsafe(max);
    return buffer.subarray(0, readSync(fd, buffer, 0, max, 0));
  } finally {
    closeSync(fd);
  }
}

/** True for the errors of a file that is not there. */
export function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
