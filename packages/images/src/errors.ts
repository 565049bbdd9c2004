import { CodedError } from '@tributary/protocol/wire';
import type { HttpErrorCode } from '@tributary/server';

/** Codes of image failures; callers branch on these, never on message text. */
export const ImageErrorCodes = {
  /** The transform spec (or preset name) does not validate; the message names the field. */
  INVALID_SPEC: 'INVALID_SPEC',
  /** The input is not an image format this backend decodes, or the output format is unknown. */
  UNSUPPORTED_FORMAT: 'UNSUPPORTED_FORMAT',
  /** The input exceeds a limit (bytes, pixels per frame, frames, total pixels); checked before decoding. */
  INPUT_TOO_LARGE: 'INPUT_TOO_LARGE',
  /** The input is corrupt or truncated. */
  CORRUPT_INPUT: 'CORRUPT_INPUT',
  /** The transform took longer than allowed; or an upload's body stalled longer than the object store waits. */
  TIMEOUT: 'TIMEOUT',
  /** The backend (Cloudinary, the disk) failed or answered an error. */
  BACKEND_ERROR: 'BACKEND_ERROR',
  /** No object with that key. */
  NOT_FOUND: 'NOT_FOUND',
  /** An on-the-fly URL whose signature does not verify (or whose key id is unknown). */
  BAD_SIGNATURE: 'BAD_SIGNATURE',
  /** An upload token that is unknown, used, or expired. */
  TOKEN_INVALID: 'TOKEN_INVALID',
  /** An upload larger than its token allows. */
  TOO_LARGE: 'TOO_LARGE',
  /** An upload whose bytes are not one of the allowed content types. */
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  /** A blob key that does not follow the key rules (path traversal, bad characters). */
  INVALID_KEY: 'INVALID_KEY',
  /** The caller's credentials carry no grant for this (e.g. requesting an upload token). */
  FORBIDDEN: 'FORBIDDEN',
  /** The request carries no credentials where some are needed (e.g. requesting an upload token). */
  UNAUTHORIZED: 'UNAUTHORIZED',
  // Every code has its HTTP status in @tributary/server's one table (httpStatusOf).
} as const satisfies Readonly<Record<string, HttpErrorCode>>;

export type ImageErrorCode = (typeof ImageErrorCodes)[keyof typeof ImageErrorCodes];

/**
 * The one error type of @tributary/images: a literal `code`, a human `message`, the `cause`. A
 * {@link CodedError}, so its codes share the one HTTP status table (`httpStatusOf`, @tributary/server);
 * where a code is also a protocol code, what each means is in protocol's errors.ts.
 */
export class ImageError extends CodedError<ImageErrorCode> {
  override readonly name = 'ImageError';
  /** Extra facts for logs and error events (limits, HTTP status of a backend), JSON-able. */
  readonly details: Readonly<Record<string, string | number | boolean>> | undefined;

  constructor(code: ImageErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, string | number | boolean> }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.details = options?.details;
  }

  /** The JSON form used in error events and HTTP error bodies. */
  toJSON(): { code: ImageErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** True when `err` is an {@link ImageError}, optionally with the given code. */
export function isImageError(err: unknown, code?: ImageErrorCode): err is ImageError {
  return err instanceof ImageError && (code === undefined || err.code === code);
}
