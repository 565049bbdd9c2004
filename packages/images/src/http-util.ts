import { ImageError, ImageErrorCodes } from './errors.js';

/** A key from its URL segment; bad percent-encoding is the client's INVALID_KEY, not our URIError. */
export function decodeKey(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ImageError(ImageErrorCodes.INVALID_KEY, 'invalid blob key: bad percent-encoding');
  }
}

/** True when an `If-None-Match` header names `etag` (weakly or strongly) or is `*`. */
export function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(',').some((t) => t.trim() === etag || t.trim() === `W/${etag}` || t.trim() === '*');
}
