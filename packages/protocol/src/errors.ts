import type { ErrorCode } from './codes.js';

/**
 * The base of every error family in Tributary: a literal `code` callers branch on (never the
 * message, which is for humans and may change) and the standard `cause`. Each family narrows `code`
 * to its own union — {@link TributaryError} (protocol, broker), `ImageError` (@tributary/images),
 * `BlockError` (@tributary/runtime) — so one HTTP status table (`httpStatusOf` in @tributary/server)
 * and one `instanceof CodedError` serve them all.
 *
 * Codes that more than one family uses, and what each means (the HTTP status is the same for all
 * families unless a route says otherwise):
 * - `TIMEOUT`: protocol — a request did not complete in time and may or may not have taken effect;
 *   images — a transform ran past its time limit (nothing was stored). Both 504.
 * - `NOT_FOUND`: protocol — no route, block or dead letter by that name; images — no object with
 *   that key, or no image route. Both 404.
 * - `FORBIDDEN`: protocol — valid credentials without the grant for this action and channel;
 *   images — the same, for requesting an upload token (a `publish` grant on `$uploads`). Both 403.
 * - `UNAUTHORIZED`: no credentials, or credentials that do not verify, in both. Both 401.
 * - `UNSUPPORTED_MEDIA_TYPE`: protocol — a state-changing request not declared `application/json`;
 *   images — uploaded bytes that are not one of the token's content types. Both 415.
 * - `PAYLOAD_TOO_LARGE`: protocol — a message or request body over its limit (413); blocks — an
 *   argument of a host call over its cap, inside an invocation.
 * - `HOP_LIMIT`, `RATE_LIMITED`: protocol — a publish refused for its hops (422) or a client sending
 *   too fast (429); blocks — the same refusal met by a block's own `ctx.publish`, which fails the
 *   invocation. A request block failing with any code is answered 502 (the block is the upstream).
 * - Sizes that are not the same thing keep their own codes: images' `TOO_LARGE` (an upload over its
 *   token's cap, 413) and `INPUT_TOO_LARGE` (an image over the decoder's limits, 422), blocks'
 *   `RESULT_TOO_LARGE` (a handler's result over its cap).
 */
export class CodedError<C extends string = string> extends Error {
  override readonly name: string = 'CodedError';
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/**
 * The protocol's error family: what the broker, the client and the platform's HTTP API throw, with
 * a code from {@link ErrorCode} — the codes of `error` frames and HTTP error bodies.
 */
export class TributaryError extends CodedError<ErrorCode> {
  override readonly name = 'TributaryError';
  /** The channel the failed request was about, when there was one. */
  readonly channel: string | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; channel?: string }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.channel = options?.channel;
  }
}

/** True when `err` is a {@link TributaryError}, optionally with the given code. */
export function isTributaryError(err: unknown, code?: ErrorCode): err is TributaryError {
  return err instanceof TributaryError && (code === undefined || err.code === code);
}
