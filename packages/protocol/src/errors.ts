import type { ErrorCode } from './codes.js';

/**
 * The one error type Tributary throws across package boundaries. `code` is what callers branch on;
 * `message` is for humans and may change.
 */
export class TributaryError extends Error {
  override readonly name = 'TributaryError';
  readonly code: ErrorCode;
  /** The channel the failed request was about, when there was one. */
  readonly channel: string | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; channel?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.channel = options?.channel;
  }
}

/** True when `err` is a {@link TributaryError}, optionally with the given code. */
export function isTributaryError(err: unknown, code?: ErrorCode): err is TributaryError {
  return err instanceof TributaryError && (code === undefined || err.code === code);
}
