// The options of S3BlobStore (s3-blobs.ts), their defaults and their one check.

/** Options of {@link S3BlobStore}; checked once by {@link resolveS3BlobStoreOptions}. */
export interface S3BlobStoreOptions {
  bucket: string;
  /**
   * Prefix of every object's name in the bucket (`<prefix>/<key>`): `/`-separated segments as in
   * blob keys, no leading or trailing `/`. @defaultValue '' (keys are the object names)
   */
  prefix?: string;
  /** @defaultValue 'us-east-1' */
  region?: string;
  /**
   * Endpoint of an S3-compatible store (MinIO, Ceph, R2, a test server), e.g. `http://127.0.0.1:9000`.
   * @defaultValue AWS's endpoint for the region
   */
  endpoint?: string;
  /**
   * Path-style addressing (`<endpoint>/<bucket>/<key>`) instead of a bucket subdomain; what most
   * S3-compatible stores need. @defaultValue true when `endpoint` is given, else false
   */
  forcePathStyle?: boolean;
  /**
   * @defaultValue the AWS SDK's default chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
   * AWS_SESSION_TOKEN, shared config files, container and instance roles
   */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * Bodies of unknown length are sent in parts of this many bytes (multipart upload when longer
   * than one part; S3's minimum part is 5 MiB). Memory per such upload: about `partSize ×
   * (queueSize + 1)`. @defaultValue 8_388_608 (8 MiB)
   */
  partSize?: number;
  /** Parts of one upload sent at once. @defaultValue 2 */
  queueSize?: number;
  /** Milliseconds to wait for a connection to the store. @defaultValue 5000 */
  connectTimeoutMs?: number;
  /** Milliseconds a connection may stay silent before the request fails. @defaultValue 30000 */
  idleTimeoutMs?: number;
  /** Attempts of a request that can be repeated (not a streamed body). @defaultValue 3 */
  maxAttempts?: number;
}

export const DEFAULT_S3_PART_SIZE = 8 * 1024 * 1024;
export const DEFAULT_S3_QUEUE_SIZE = 2;
export const DEFAULT_S3_REGION = 'us-east-1';
export const DEFAULT_S3_CONNECT_TIMEOUT_MS = 5000;
export const DEFAULT_S3_IDLE_TIMEOUT_MS = 30_000;
export const DEFAULT_S3_MAX_ATTEMPTS = 3;
/** S3's smallest part (all but the last). */
const MIN_PART_SIZE = 5 * 1024 * 1024;

/** {@link S3BlobStoreOptions} with the defaults filled in. */
export type ResolvedS3Options = Required<Omit<S3BlobStoreOptions, 'endpoint' | 'credentials'>> &
  Pick<S3BlobStoreOptions, 'endpoint' | 'credentials'>;

/** Validates {@link S3BlobStoreOptions}, naming the bad field, and fills in the defaults. */
export function resolveS3BlobStoreOptions(o: S3BlobStoreOptions): ResolvedS3Options {
  // S3's naming rules, so a typo is a usage error at start rather than a refusal by the store later:
  // no two dots in a row, not an IP address.
  if (
    typeof o.bucket !== 'string' ||
    !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(o.bucket) ||
    o.bucket.includes('..') ||
    /^\d+\.\d+\.\d+\.\d+$/.test(o.bucket)
  )
    throw new TypeError(
      `bucket must be an S3 bucket name (3–63 of a-z 0-9 . -, no "..", not an IP address), got ${JSON.stringify(o.bucket)}`,
    );
  const prefix = o.prefix ?? '';
  if (prefix !== '' && !isSegments(prefix))
    throw new TypeError(
      `prefix must be /-separated segments of A-Z a-z 0-9 . _ - (no leading or trailing /), got ${JSON.stringify(prefix)}`,
    );
  const int = (name: string, v: number | undefined, d: number, min: number): number => {
    const n = v ?? d;
    if (!Number.isSafeInteger(n) || n < min) throw new TypeError(`${name} must be an integer ≥ ${min}, got ${String(v)}`);
    return n;
  };
  if (o.endpoint !== undefined && !isEndpoint(o.endpoint))
    throw new TypeError(
      `endpoint must be an http(s) URL with a valid host and port, and no path, query or user info, got ${JSON.stringify(endpointText(o.endpoint))}`,
    );
  if (o.credentials !== undefined && (!o.credentials.accessKeyId || !o.credentials.secretAccessKey))
    throw new TypeError('credentials need both accessKeyId and secretAccessKey');
  const r: ResolvedS3Options = {
    bucket: o.bucket,
    prefix,
    region: o.region ?? DEFAULT_S3_REGION,
    forcePathStyle: o.forcePathStyle ?? o.endpoint !== undefined,
    partSize: int('partSize', o.partSize, DEFAULT_S3_PART_SIZE, MIN_PART_SIZE),
    queueSize: int('queueSize', o.queueSize, DEFAULT_S3_QUEUE_SIZE, 1),
    connectTimeoutMs: int('connectTimeoutMs', o.connectTimeoutMs, DEFAULT_S3_CONNECT_TIMEOUT_MS, 1),
    idleTimeoutMs: int('idleTimeoutMs', o.idleTimeoutMs, DEFAULT_S3_IDLE_TIMEOUT_MS, 1),
    maxAttempts: int('maxAttempts', o.maxAttempts, DEFAULT_S3_MAX_ATTEMPTS, 1),
  };
  if (o.endpoint !== undefined) r.endpoint = o.endpoint;
  if (o.credentials !== undefined) r.credentials = o.credentials;
  return r;
}

/** `s3://bucket/some/prefix` → `{ bucket, prefix }` (the prefix may be empty). */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*?)\/?$/.exec(url);
  if (m === null) throw new TypeError(`not an s3:// URL: ${JSON.stringify(url)} (e.g. s3://my-bucket/tributary)`);
  return { bucket: m[1] as string, prefix: m[2] as string };
}

/**
 * An endpoint the SDK can use: parsed as a URL (a port over 65535 or a space in the host used to
 * pass a pattern check and fail every request as "Invalid URL", blamed on the store), with no user
 * info (it would be printed at start and in errors), path, query or fragment.
 */
function isEndpoint(endpoint: string): boolean {
  if (!/^https?:\/\/[^/?#]+\/?$/.test(endpoint)) return false;
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    return false;
  }
  return u.username === '' && u.password === '' && u.hostname !== '';
}

/** An endpoint as it may be shown: without what could be a password. */
function endpointText(endpoint: unknown): string {
  return String(endpoint).replace(/\/\/[^/@]*@/, '//…@');
}

function isSegments(s: string): boolean {
  return /^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/.test(s) && !s.split('/').some((p) => p === '.' || p === '..');
}
