import type { ErrorCode } from '@tributary/protocol';

/**
 * The one error code → HTTP status table, for every family of `CodedError` (@tributary/protocol):
 * `TributaryError`, `ImageError` (@tributary/images) and `BlockError` (@tributary/runtime). A code
 * two families share has one status (what each family means by it: protocol's errors.ts). The
 * families' code lists live in their packages, which this one may not import; each of them checks
 * with `satisfies` that every code it has is a key here, so a new code without a status does not
 * compile. Routes that answer a family's error by context rather than by code say so where they do
 * (a failing request block is 502 whatever its code; a refused deploy or replay is 422).
 */
export const HTTP_STATUS = {
  // Protocol (TributaryError): the broker's API, error frames.
  BAD_JSON: 400,
  UNKNOWN_TYPE: 400,
  INVALID_FRAME: 400,
  PAYLOAD_TOO_LARGE: 413,
  INVALID_CHANNEL: 400,
  UNAUTHORIZED: 401,
  TOKEN_EXPIRED: 401,
  FORBIDDEN: 403,
  NOT_SUBSCRIBED: 409,
  ALREADY_SUBSCRIBED: 409,
  LIMIT_EXCEEDED: 429,
  RATE_LIMITED: 429,
  HOP_LIMIT: 422,
  REJECTED: 422,
  NOT_FOUND: 404,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
  CLOSED: 503,
  UNSUPPORTED_MEDIA_TYPE: 415,
  FORBIDDEN_ORIGIN: 403,
  INTERNAL: 500,
  // Images (ImageError); TIMEOUT, NOT_FOUND, UNSUPPORTED_MEDIA_TYPE, FORBIDDEN, UNAUTHORIZED above.
  INVALID_SPEC: 400,
  UNSUPPORTED_FORMAT: 415,
  INPUT_TOO_LARGE: 422,
  CORRUPT_INPUT: 422,
  BACKEND_ERROR: 502,
  BAD_SIGNATURE: 403,
  TOKEN_INVALID: 401,
  TOO_LARGE: 413,
  INVALID_KEY: 400,
  // Blocks (BlockError); HOP_LIMIT, RATE_LIMITED, PAYLOAD_TOO_LARGE above. A bundle that does not
  // compile or define a block is the deployer's to fix (422); an invocation that fails is the
  // upstream's failure (502), as a request block's answer has always been.
  COMPILE_ERROR: 422,
  INVALID_BLOCK: 422,
  HANDLER_ERROR: 502,
  MEMORY_LIMIT: 502,
  CPU_LIMIT: 502,
  WALL_LIMIT: 502,
  CALL_LIMIT: 502,
  HOST_REFUSED: 502,
  RESULT_TOO_LARGE: 502,
  BAD_RESULT: 502,
  STOPPED: 502,
  RUNNER_EXITED: 502,
  RUNNER_UNAVAILABLE: 502,
} as const satisfies Readonly<Record<ErrorCode, number>> & Readonly<Record<string, number>>;

/** Every code with an HTTP status: the union of every error family's codes. */
export type HttpErrorCode = keyof typeof HTTP_STATUS;

/** The HTTP status an error with `code` is answered with. */
export function httpStatusOf(code: HttpErrorCode): number {
  return HTTP_STATUS[code];
}
