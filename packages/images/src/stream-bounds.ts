import { ImageError, ImageErrorCodes } from './errors.js';

/** Bytes `start` to `end` of an object, both inclusive (as HTTP's Range counts); no `end`: to the end. */
export interface ByteRange {
  start: number;
  end?: number;
}

/** `range` clamped to an object of `bytes` bytes (the whole object without one); INVALID_SPEC when it starts past the end. */
export function clampRange(range: ByteRange | undefined, bytes: number): { start: number; end: number } {
  if (range === undefined) return { start: 0, end: bytes - 1 };
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && (!Number.isSafeInteger(end) || end < start)))
    throw new ImageError(ImageErrorCodes.INVALID_SPEC, `invalid byte range ${start}-${end ?? ''}`);
  if (start >= bytes) throw new ImageError(ImageErrorCodes.INVALID_SPEC, `byte range starts at ${start}, past the end (${bytes} bytes)`);
  return { start, end: Math.min(end ?? bytes - 1, bytes - 1) };
}

/**
 * `body` as it is, checked to hold exactly `bytes` bytes when that is given: one that runs longer
 * fails the moment it does, one that ends shorter fails at its end (BACKEND_ERROR: the caller's
 * declared length was wrong, so nothing may be stored).
 */
export async function* exactly(body: AsyncIterable<Uint8Array>, bytes: number | undefined): AsyncGenerator<Uint8Array> {
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (bytes !== undefined && n > bytes) throw lengthMismatch(n, bytes, 'more');
    yield c;
  }
  if (bytes !== undefined && n !== bytes) throw lengthMismatch(n, bytes, 'fewer');
}

function lengthMismatch(n: number, bytes: number, what: string): ImageError {
  return new ImageError(ImageErrorCodes.BACKEND_ERROR, `body has ${what} bytes than the ${bytes} declared (${n} so far)`);
}
