import { ImageError, ImageErrorCodes } from './errors.js';

/** Why an S3 request failed, as `details.reason` of the BACKEND_ERROR it becomes. */
export const S3FailureReasons = {
  /** The store refused the credentials or their rights (403: a wrong key or secret, a policy). */
  CREDENTIALS: 'credentials',
  /** The bucket does not exist. */
  BUCKET: 'bucket',
  /** No answer: refused or dropped connection, timeout, DNS. */
  UNREACHABLE: 'unreachable',
  /** Any other refusal of the store. */
  REFUSED: 'refused',
} as const;
export type S3FailureReason = (typeof S3FailureReasons)[keyof typeof S3FailureReasons];

const CREDENTIAL_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * The one place S3 failures (the SDK's exceptions, network errors) become {@link ImageError}s:
 * a missing object is NOT_FOUND (the store turns it into `undefined` / `false`, as the disk store
 * answers); everything else is BACKEND_ERROR with `details` `{ store: 's3', reason, op, status?,
 * s3Code? }` — never an untyped error, so an HTTP caller gets 502 and a message naming the cause
 * (`reason` is one of {@link S3FailureReasons}), not a 500.
 */
export function s3Error(err: unknown, op: 'put' | 'get' | 'head' | 'delete' | 'presign' | 'check', key: string): ImageError {
  if (err instanceof ImageError) return err;
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  const name = e.name ?? 'Error';
  const missing = name === 'NoSuchKey' || ((name === 'NotFound' || status === 404) && name !== 'NoSuchBucket');
  if (missing && op !== 'put' && op !== 'check') return new ImageError(ImageErrorCodes.NOT_FOUND, `no object ${key}`, { cause: err });
  const details: Record<string, string | number> = { store: 's3', op };
  if (status !== undefined) details.status = status;
  if (name !== 'Error') details.s3Code = name;
  let reason: S3FailureReason;
  let message: string;
  if (CREDENTIAL_CODES.has(name) || status === 403 || status === 401) {
    reason = S3FailureReasons.CREDENTIALS;
    message = `the S3 store refused the credentials (${name}): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket policy`;
  } else if (name === 'NoSuchBucket' || (op === 'check' && status === 404)) {
    reason = S3FailureReasons.BUCKET;
    message = 'the S3 bucket does not exist';
  } else if (status === undefined && (NETWORK_CODES.has(e.code ?? '') || NETWORK_CODES.has(name) || isNetworkError(name, e.message))) {
    reason = S3FailureReasons.UNREACHABLE;
    message = `the S3 store did not answer (${e.code ?? name}: ${e.message ?? ''})`;
  } else {
    reason = S3FailureReasons.REFUSED;
    message = `the S3 store failed a ${op} of ${key} (${name}${status === undefined ? '' : ` ${status}`}: ${e.message ?? ''})`;
  }
  details.reason = reason;
  return new ImageError(ImageErrorCodes.BACKEND_ERROR, message, { cause: err, details });
}

function isNetworkError(name: string, message: string | undefined): boolean {
  return name === 'TimeoutError' || name === 'AbortError' || /socket hang up|ECONNRESET|ECONNREFUSED|EPIPE|aborted/i.test(message ?? '');
}
