import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { assertBlobKey, type BlobInfo, type BlobStore, type BlobStream, type DirectUploads, type PutStreamOptions } from './blobs.js';
import { clampRange, exactly, type ByteRange } from './stream-bounds.js';
import { ImageError, ImageErrorCodes } from './errors.js';
import { S3DirectUploads } from './s3-direct.js';
import { s3Error } from './s3-errors.js';
import { etagOf, infoOf, isInvalidRange, meta, QUIET, rangeOf, totalOf } from './s3-objects.js';
import { resolveS3BlobStoreOptions, type ResolvedS3Options, type S3BlobStoreOptions } from './s3-options.js';

/**
 * A request ended for silence: the SDK's idle timeout (a TimeoutError without a socket error code —
 * the SDK names a reset connection, ECONNRESET, a TimeoutError too), or S3's RequestTimeout (400).
 */
function isStall(err: unknown): boolean {
  const e = err as { name?: string; code?: string; Code?: string };
  return (e.name === 'TimeoutError' && e.code === undefined) || e.name === 'RequestTimeout' || e.Code === 'RequestTimeout';
}

/** S3's largest single PUT. */
const MAX_SINGLE_PUT = 5 * 1024 ** 3;
/**
 * Where direct uploads wait for the broker's check, under the prefix. A segment starting with `.`
 * is never a blob key, so nothing stored or served by key can reach it (and a bucket lifecycle rule
 * can expire what is left there).
 */
const PENDING = '.incoming';

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
  readonly #o: ResolvedS3Options;
  /**
   * The same client with one attempt (a streamed body cannot be sent twice) and no bound on its
   * connections: see {@link #reads}.
   */
  readonly #once: S3Client;
  /**
   * GETs whose bodies are streamed on to HTTP clients. They go at the pace of whoever reads them,
   * so they must not share the SDK's default pool of 50 sockets per host: 50 slow readers of
   * /v1/blobs held all of them, and every other S3 call of the node (uploads, HEADs, on-the-fly
   * reads) waited for a socket until its connect timeout — a 502 "did not answer" for everyone,
   * with the store idle. Here, and for streamed PUTs, each client-paced request has a connection of
   * its own (as a proxy gives each downstream one upstream); the rest keep the bounded pool.
   */
  readonly #reads: S3Client;

  constructor(options: S3BlobStoreOptions) {
    this.#o = resolveS3BlobStoreOptions(options);
    this.bucket = this.#o.bucket;
    this.prefix = this.#o.prefix;
    const config = (maxAttempts: number, clientPaced = false): S3ClientConfig => ({
      region: this.#o.region,
      forcePathStyle: this.#o.forcePathStyle,
      maxAttempts,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: this.#o.connectTimeoutMs,
        socketTimeout: this.#o.idleTimeoutMs,
        ...(clientPaced ? { httpAgent: { maxSockets: Infinity }, httpsAgent: { maxSockets: Infinity } } : {}),
      },
      // Failures reach the caller as ImageErrors; the SDK's console warnings (a streamed body is
      // not retried) would only repeat them.
      logger: QUIET,
      ...(this.#o.endpoint === undefined ? {} : { endpoint: this.#o.endpoint }),
      ...(this.#o.credentials === undefined ? {} : { credentials: this.#o.credentials }),
    });
    this.client = new S3Client(config(this.#o.maxAttempts));
    this.#once = new S3Client(config(1, true));
    this.#reads = new S3Client(config(this.#o.maxAttempts, true));
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
    // True while the PUT waits for the body's next bytes: a request that times out then was ended
    // because the client stopped sending (see the catch below), not because the store went away.
    let waitingForBody = false;
    const counted = async function* (): AsyncGenerator<Uint8Array> {
      let done = false;
      try {
        for (;;) {
          let r: IteratorResult<Uint8Array>;
          try {
            waitingForBody = true;
            r = await it.next();
          } catch (err) {
            done = true;
            bodyError = err;
            abort.abort(err);
            throw err;
          } finally {
            waitingForBody = false;
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
      // A client that stalls mid-body leaves the connection to the store silent: our idle timeout,
      // or S3's own RequestTimeout, ends the PUT. That is the client's doing; reported as the store
      // not answering, it sent operators after an outage that was not there.
      if (waitingForBody && isStall(err))
        throw new ImageError(
          ImageErrorCodes.TIMEOUT,
          'the upload stalled: its body stopped arriving for longer than the object store waits, which ended the request',
          { cause: err, details: { store: 's3', op: 'put', reason: 'stalled' } },
        );
      throw s3Error(err, 'put', key);
    }
  }

  /** HeadBucket: the bucket exists and these credentials may use it (BACKEND_ERROR with `details.reason` otherwise). */
  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      throw s3Error(err, 'check', this.bucket);
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
      const r = await this.#reads.send(
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
