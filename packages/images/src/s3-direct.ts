import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { BlobInfo, DirectUploads } from './blobs.js';
import { ImageError, ImageErrorCodes } from './errors.js';
import { s3Error } from './s3-errors.js';
import { etagOf, isPreconditionFailed, meta } from './s3-objects.js';

/** The longest a SigV4 presigned URL may be valid: 7 days. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

/** What direct uploads need of the store: its client, bucket and object names. */
export interface S3ObjectNames {
  readonly bucket: string;
  readonly client: S3Client;
  objectName(key: string): string;
  pendingName(key: string): string;
}

/**
 * Direct uploads on S3: a presigned PUT to the key's pending object, with Content-Length and
 * Content-Type among its signed headers (S3 refuses a PUT whose size or type differ); the broker
 * then HEADs it, reads its first bytes (a ranged GET) and copies it to the key (server side, with
 * `x-amz-copy-source-if-match`, so exactly the bytes checked become the object) before deleting it.
 */
export class S3DirectUploads implements DirectUploads {
  readonly #s: S3ObjectNames;

  constructor(store: S3ObjectNames) {
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
        // S3 refuses to sign for more than a week: a token that lives longer (uploads.ttlSeconds
        // over 7 days) gets a URL that expires first, rather than a presign failure (a 502).
        expiresIn: Math.min(MAX_PRESIGN_SECONDS, Math.max(1, Math.floor(o.expiresInSeconds))),
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
      // The object is in place from here on: the pending copy's removal may fail (a policy without
      // s3:DeleteObject on .incoming/, a store gone for a moment) without failing the upload, which
      // would leave an object readable by its key but never announced (no object.created) while its
      // client was told it failed. What is left there is for the lifecycle rule on .incoming/.
      await this.#s.client.send(new DeleteObjectCommand({ Bucket: this.#s.bucket, Key: source })).catch(() => {});
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
