// What S3BlobStore and its direct uploads read from and write to S3 objects besides the bytes:
// metadata, ETags, ranges, and the few error shapes handled where they occur.
import type { BlobInfo } from './blobs.js';

/** A logger that says nothing: failures reach callers as ImageErrors. */
export const QUIET = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export function meta(createdAt: number): Record<string, string> {
  return { 'created-at': String(createdAt) };
}

/** S3's ETag (quoted hex, `-N` for a multipart object) as ours: `"s3:<hex>"`. */
export function etagOf(s3: string | undefined): string {
  return `"s3:${(s3 ?? '').replace(/"/g, '')}"`;
}

export function infoOf(
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
export function totalOf(contentRange: string | undefined): number | undefined {
  const m = contentRange === undefined ? null : /\/(\d+)$/.exec(contentRange);
  return m === null ? undefined : Number(m[1]);
}

export function rangeOf(contentRange: string | undefined): { start: number; end: number } | undefined {
  const m = contentRange === undefined ? null : /^bytes (\d+)-(\d+)\//.exec(contentRange);
  return m === null ? undefined : { start: Number(m[1]), end: Number(m[2]) };
}

export function isInvalidRange(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'InvalidRange' || e.$metadata?.httpStatusCode === 416;
}

export function isPreconditionFailed(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412;
}
