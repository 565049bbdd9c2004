import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  assertBlobKey,
  clampRange,
  exactly,
  type BlobInfo,
  type BlobStore,
  type BlobStream,
  type ByteRange,
  type DirectUploads,
  type PutStreamOptions,
} from './blobs.js';
import { ImageError, ImageErrorCodes } from './errors.js';
import { s3Error } from './s3-errors.js';

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
/** S3's largest single PUT. */
const MAX_SINGLE_PUT = 5 * 1024 ** 3;
/**
 * Where direct uploads wait for the broker's check, under the prefix. A segment starting with `.`
 * is never a blob key, so nothing stored or served by key can reach it (and a bucket lifecycle rule
 * can expire what is left there).
 */
const PENDING = '.incoming';

type Resolved = Required<Omit<S3BlobStoreOptions, 'endpoint' | 'credentials'>> & Pick<S3BlobStoreOptions, 'endpoint' | 'credentials'>;

/** Validates {@link S3BlobStoreOptions}, naming the bad field, and fills in the defaults. */
export function resolveS3BlobStoreOptions(o: S3BlobStoreOptions): Resolved {
  if (typeof o.bucket !== 'string' || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(o.bucket))
    throw new TypeError(`bucket must be an S3 bucket name (3–63 of a-z 0-9 . -), got ${JSON.stringify(o.bucket)}`);
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
  if (o.endpoint !== undefined && !/^https?:\/\/[^/]+\/?$/.test(o.endpoint))
    throw new TypeError(`endpoint must be an http(s) URL with no path, got ${JSON.stringify(o.endpoint)}`);
  if (o.credentials !== undefined && (!o.credentials.accessKeyId || !o.credentials.secretAccessKey))
    throw new TypeError('credentials need both accessKeyId and secretAccessKey');
  const r: Resolved = {
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

function isSegments(s: string): boolean {
  return /^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/.test(s) && !s.split('/').some((p) => p === '.' || p === '..');
}

/**
 * A {@link BlobStore} on the S3 API (AWS SDK v3): Amazon S3 or any S3-compatible store. Object names
 * are `<prefix>/<key>`; the content type is the object's, the creation time is kept as object
 * metadata (`created-at`), and the ETag is S3's own, which is a hash of the content (`"s3:<etag>"`).
 *
 * Writes are atomic as S3 makes them: an object appears only when its PUT, or its multipart
 * upload's completion, succeeded. A body of known length is streamed in one PUT (nothing buffered);
 * one of unknown length goes in parts of `partSize` through lib-storage's `Upload` (one PUT when it
 * fits in a part), whose multipart upload is aborted on any failure. Every failure is an
 * {@link ImageError} (see s3-errors.ts): a missing object is `undefined` / `false` as on disk, bad
 * credentials, a missing bucket or an unreachable store are BACKEND_ERROR with `details.reason`.
 *
 * Checksums: the client computes request checksums only where S3 requires them
 * (`requestChecksumCalculation: 'WHEN_REQUIRED'`), because many S3-compatible stores do not
 * understand the `aws-chunked` trailers the SDK would otherwise add to streamed bodies, and a
 * presigned URL would carry a checksum of an empty body.
 */
export class S3BlobStore implements BlobStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;
  readonly direct: DirectUploads;
  readonly #o: Resolved;
  /** The same client with one attempt: a streamed body cannot be sent twice. */
  readonly #once: S3Client;

  constructor(options: S3BlobStoreOptions) {
    this.#o = resolveS3BlobStoreOptions(options);
    this.bucket = this.#o.bucket;
    this.prefix = this.#o.prefix;
    const config = (maxAttempts: number): S3ClientConfig => ({
      region: this.#o.region,
      forcePathStyle: this.#o.forcePathStyle,
      maxAttempts,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: this.#o.connectTimeoutMs, socketTimeout: this.#o.idleTimeoutMs },
      // Failures reach the caller as ImageErrors; the SDK's console warnings (a streamed body is
      // not retried) would only repeat them.
      logger: QUIET,
      ...(this.#o.endpoint === undefined ? {} : { endpoint: this.#o.endpoint }),
      ...(this.#o.credentials === undefined ? {} : { credentials: this.#o.credentials }),
    });
    this.client = new S3Client(config(this.#o.maxAttempts));
    this.#once = new S3Client(config(1));
    this.direct = new S3DirectUploads(this);
  }

  /** The object name of `key` (validated). */
  objectName(key: string): string {
    assertBlobKey(key);
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }

  /** The object name of `key`'s pending direct upload. */
  pendingName(key: string): string {
    assertBlobKey(key);
    return this.prefix === '' ? `${PENDING}/${key}` : `${this.prefix}/${PENDING}/${key}`;
  }

  async put(key: string, data: Buffer, contentType: string): Promise<BlobInfo> {
    const Key = this.objectName(key);
    const createdAt = Date.now();
    try {
      const r = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key,
          Body: data,
          ContentLength: data.length,
          ContentType: contentType,
          Metadata: meta(createdAt),
        }),
      );
      return { key, contentType, bytes: data.length, etag: etagOf(r.ETag), createdAt };
    } catch (err) {
      throw s3Error(err, 'put', key);
    }
  }

  async putStream(key: string, body: AsyncIterable<Uint8Array>, contentType: string, options: PutStreamOptions = {}): Promise<BlobInfo> {
    const Key = this.objectName(key);
    const createdAt = Date.now();
    let bytes = 0;
    // The body's own errors reach the caller unchanged; an aborted request must also stop the PUT
    // carrying it (the SDK pipes a stream body and would otherwise wait for the rest forever).
    const abort = new AbortController();
    let bodyError: unknown;
    // Only errors of the body itself count as the body's: the SDK's stream may also throw into this
    // generator (an AbortError when it stops reading), which is the upload's failure, not the body's.
    const it = exactly(body, options.bytes)[Symbol.asyncIterator]();
    const counted = async function* (): AsyncGenerator<Uint8Array> {
      let done = false;
      try {
        for (;;) {
          let r: IteratorResult<Uint8Array>;
          try {
            r = await it.next();
          } catch (err) {
            done = true;
            bodyError = err;
            abort.abort(err);
            throw err;
          }
          if (r.done === true) {
            done = true;
            return;
          }
          bytes += r.value.length;
          yield r.value;
        }
      } finally {
        if (!done) await it.return?.(undefined);
      }
    };
    const source = Readable.from(counted(), { objectMode: false });
    // Its failure is handled through `bodyError` and the abort; the SDK pipes the stream into the
    // request and listens for no errors on it.
    source.on('error', () => {});
    try {
      let etag: string | undefined;
      if (options.bytes !== undefined && options.bytes <= MAX_SINGLE_PUT) {
        const r = await this.#once.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key,
            Body: source,
            ContentLength: options.bytes,
            ContentType: contentType,
            Metadata: meta(createdAt),
          }),
          { abortSignal: abort.signal },
        );
        etag = r.ETag;
      } else {
        const upload = new Upload({
          client: this.#once,
          params: { Bucket: this.bucket, Key, Body: source, ContentType: contentType, Metadata: meta(createdAt) },
          partSize: this.#o.partSize,
          queueSize: this.#o.queueSize,
          leavePartsOnError: false,
        });
        abort.signal.addEventListener('abort', () => void upload.abort(), { once: true });
        etag = (await upload.done()).ETag;
      }
      return { key, contentType, bytes, etag: etagOf(etag), createdAt };
    } catch (err) {
      if (bodyError !== undefined) throw bodyError;
      throw s3Error(err, 'put', key);
    }
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    const Key = this.objectName(key);
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return infoOf(key, r, r.ContentLength ?? 0);
    } catch (err) {
      const e = s3Error(err, 'head', key);
      if (e.code === ImageErrorCodes.NOT_FOUND) return undefined;
      throw e;
    }
  }

  async get(key: string): Promise<{ info: BlobInfo; data: Buffer } | undefined> {
    const s = await this.stream(key);
    if (s === undefined) return undefined;
    const chunks: Buffer[] = [];
    try {
      for await (const c of s.body) chunks.push(c as Buffer);
    } catch (err) {
      throw s3Error(err, 'get', key);
    }
    return { info: s.info, data: Buffer.concat(chunks) };
  }

  async stream(key: string, range?: ByteRange): Promise<BlobStream | undefined> {
    const Key = this.objectName(key);
    if (range !== undefined) clampRange(range, Number.MAX_SAFE_INTEGER); // the range's own shape
    try {
      const r = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key,
          ...(range === undefined ? {} : { Range: `bytes=${range.start}-${range.end ?? ''}` }),
        }),
      );
      const total = totalOf(r.ContentRange) ?? r.ContentLength ?? 0;
      const served = rangeOf(r.ContentRange) ?? { start: 0, end: total - 1 };
      return { info: infoOf(key, r, total), body: r.Body as Readable, range: served };
    } catch (err) {
      const e = s3Error(err, 'get', key);
      if (e.code === ImageErrorCodes.NOT_FOUND) return undefined;
      if (isInvalidRange(err))
        throw new ImageError(ImageErrorCodes.INVALID_SPEC, `byte range starts at ${range?.start}, past the end of ${key}`);
      throw e;
    }
  }

  async delete(key: string): Promise<boolean> {
    // S3 answers a DELETE the same whether or not the object was there; the HEAD tells.
    const existed = (await this.head(key)) !== undefined;
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectName(key) }));
    } catch (err) {
      throw s3Error(err, 'delete', key);
    }
    return existed;
  }
}

/**
 * Direct uploads on S3: a presigned PUT to the key's pending object, with Content-Length and
 * Content-Type among its signed headers (S3 refuses a PUT whose size or type differ); the broker
 * then HEADs it, reads its first bytes (a ranged GET) and copies it to the key (server side, with
 * `x-amz-copy-source-if-match`, so exactly the bytes checked become the object) before deleting it.
 */
class S3DirectUploads implements DirectUploads {
  readonly #s: S3BlobStore;

  constructor(store: S3BlobStore) {
    this.#s = store;
  }

  async presignPut(
    key: string,
    o: { bytes: number; contentType: string; expiresInSeconds: number },
  ): Promise<{ url: string; method: 'PUT'; headers: Record<string, string> }> {
    const cmd = new PutObjectCommand({
      Bucket: this.#s.bucket,
      Key: this.#s.pendingName(key),
      ContentLength: o.bytes,
      ContentType: o.contentType,
    });
    try {
      const url = await getSignedUrl(this.#s.client, cmd, {
        expiresIn: Math.max(1, Math.floor(o.expiresInSeconds)),
        // Signed, so S3 holds the PUT to them; neither may move into the query string.
        signableHeaders: new Set(['content-length', 'content-type']),
        unhoistableHeaders: new Set(['content-length', 'content-type']),
      });
      // A browser sets Content-Length from the body itself (it may not be set by hand).
      return { url, method: 'PUT', headers: { 'content-type': o.contentType } };
    } catch (err) {
      throw s3Error(err, 'presign', key);
    }
  }

  async inspect(key: string, headBytes: number): Promise<{ bytes: number; head: Buffer; version: string } | undefined> {
    const Key = this.#s.pendingName(key);
    try {
      const h = await this.#s.client.send(new HeadObjectCommand({ Bucket: this.#s.bucket, Key }));
      const bytes = h.ContentLength ?? 0;
      const version = h.ETag ?? '';
      if (bytes === 0) return { bytes, head: Buffer.alloc(0), version };
      const g = await this.#s.client.send(
        new GetObjectCommand({ Bucket: this.#s.bucket, Key, Range: `bytes=0-${headBytes - 1}`, IfMatch: version }),
      );
      return {
        bytes,
        head: Buffer.from(await (g.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()),
        version,
      };
    } catch (err) {
      const e = s3Error(err, 'head', key);
      if (e.code === ImageErrorCodes.NOT_FOUND) return undefined;
      throw e;
    }
  }

  async commit(key: string, o: { contentType: string; version: string; bytes: number }): Promise<BlobInfo> {
    const createdAt = Date.now();
    const source = this.#s.pendingName(key);
    try {
      const r = await this.#s.client.send(
        new CopyObjectCommand({
          Bucket: this.#s.bucket,
          Key: this.#s.objectName(key),
          CopySource: `${this.#s.bucket}/${source}`,
          CopySourceIfMatch: o.version,
          MetadataDirective: 'REPLACE',
          ContentType: o.contentType,
          Metadata: meta(createdAt),
        }),
      );
      await this.#s.client.send(new DeleteObjectCommand({ Bucket: this.#s.bucket, Key: source }));
      return { key, contentType: o.contentType, bytes: o.bytes, etag: etagOf(r.CopyObjectResult?.ETag), createdAt };
    } catch (err) {
      if (isPreconditionFailed(err))
        throw new ImageError(ImageErrorCodes.UNSUPPORTED_MEDIA_TYPE, 'the upload changed after it was checked; ask for a new upload token');
      throw s3Error(err, 'put', key);
    }
  }

  async discard(key: string): Promise<void> {
    try {
      await this.#s.client.send(new DeleteObjectCommand({ Bucket: this.#s.bucket, Key: this.#s.pendingName(key) }));
    } catch (err) {
      throw s3Error(err, 'delete', key);
    }
  }
}

const QUIET = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

function meta(createdAt: number): Record<string, string> {
  return { 'created-at': String(createdAt) };
}

/** S3's ETag (quoted hex, `-N` for a multipart object) as ours: `"s3:<hex>"`. */
function etagOf(s3: string | undefined): string {
  return `"s3:${(s3 ?? '').replace(/"/g, '')}"`;
}

function infoOf(
  key: string,
  r: { ContentType?: string; ETag?: string; Metadata?: Record<string, string>; LastModified?: Date },
  bytes: number,
): BlobInfo {
  const created = Number(r.Metadata?.['created-at']);
  return {
    key,
    contentType: r.ContentType ?? 'application/octet-stream',
    bytes,
    etag: etagOf(r.ETag),
    createdAt: Number.isSafeInteger(created) && created > 0 ? created : (r.LastModified?.getTime() ?? 0),
  };
}

/** The object's size from `bytes a-b/total`. */
function totalOf(contentRange: string | undefined): number | undefined {
  const m = contentRange === undefined ? null : /\/(\d+)$/.exec(contentRange);
  return m === null ? undefined : Number(m[1]);
}

function rangeOf(contentRange: string | undefined): { start: number; end: number } | undefined {
  const m = contentRange === undefined ? null : /^bytes (\d+)-(\d+)\//.exec(contentRange);
  return m === null ? undefined : { start: Number(m[1]), end: Number(m[2]) };
}

function isInvalidRange(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'InvalidRange' || e.$metadata?.httpStatusCode === 416;
}

function isPreconditionFailed(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412;
}
