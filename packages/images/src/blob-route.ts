import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { HttpRoute } from '@tributary/server';
import { openBlob } from './blob-streams.js';
import { isValidBlobKey, type BlobInfo, type BlobStore } from './blobs.js';
import type { ByteRange } from './stream-bounds.js';
import { ImageError, ImageErrorCodes } from './errors.js';
import { decodeKey, matches } from './http-util.js';

/**
 * `GET|HEAD /v1/blobs/<key>`: the object streamed from the store (never read whole into memory),
 * with its ETag, `cacheControl`, `nosniff`, 304 on If-None-Match, and one byte range on request
 * (`Range: bytes=a-b`, `a-` or `-n`: 206 with Content-Range; past the end: 416; an `If-Range` that
 * is not the current ETag, or several ranges: the whole object, as RFC 9110 allows).
 */
export function blobHandler(store: BlobStore, cacheControl: string): HttpRoute['handle'] {
  return async (req, res, _principal, url) => {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      throw new ImageError(ImageErrorCodes.NOT_FOUND, `no route for ${req.method} ${url.pathname}`);
    const key = decodeKey(url.pathname.slice('/v1/blobs/'.length));
    if (!isValidBlobKey(key)) throw new ImageError(ImageErrorCodes.INVALID_KEY, 'invalid blob key');
    const wantsRange = req.method === 'GET' && req.headers.range !== undefined;
    // A plain GET is one request to the store (S3: the GET answers the info too); a conditional
    // one, a HEAD or a range needs the info first.
    let info: BlobInfo | undefined;
    if (req.method === 'HEAD' || req.headers['if-none-match'] !== undefined || wantsRange) {
      info = await store.head(key);
      if (info === undefined) throw new ImageError(ImageErrorCodes.NOT_FOUND, `no object ${key}`);
      if (matches(req.headers['if-none-match'], info.etag)) return void res.writeHead(304, headersOf(info, cacheControl)).end();
      if (req.method === 'HEAD') return void res.writeHead(200, { ...headersOf(info, cacheControl), 'content-length': info.bytes }).end();
    }
    let range: ByteRange | undefined;
    if (info !== undefined && wantsRange) {
      const r = rangeOf(req, info);
      if (r === 'unsatisfiable') {
        return void res
          .writeHead(416, { ...headersOf(info, cacheControl), 'content-range': `bytes */${info.bytes}`, 'content-length': 0 })
          .end();
      }
      range = r;
    }
    const s = await openBlob(store, key, range);
    if (s === undefined) throw new ImageError(ImageErrorCodes.NOT_FOUND, `no object ${key}`);
    const headers = { ...headersOf(s.info, cacheControl), 'content-length': s.range.end - s.range.start + 1 };
    if (range === undefined) res.writeHead(200, headers);
    else res.writeHead(206, { ...headers, 'content-range': `bytes ${s.range.start}-${s.range.end}/${s.info.bytes}` });
    await send(s.body, req, res);
  };
}

function headersOf(info: BlobInfo, cacheControl: string): Record<string, string> {
  return {
    etag: info.etag,
    'cache-control': cacheControl,
    'content-type': info.contentType,
    'x-content-type-options': 'nosniff',
    'accept-ranges': 'bytes',
  };
}

/** The one range asked for, undefined to send everything, or 'unsatisfiable' (416). */
function rangeOf(req: IncomingMessage, info: BlobInfo): ByteRange | undefined | 'unsatisfiable' {
  const ifRange = req.headers['if-range'];
  if (ifRange !== undefined && String(ifRange).trim() !== info.etag) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec((req.headers.range ?? '').trim());
  if (m === null || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    // The last n bytes.
    const n = Number(m[2]);
    if (n === 0 || info.bytes === 0) return 'unsatisfiable';
    return { start: Math.max(0, info.bytes - n) };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? undefined : Number(m[2]);
  if (end !== undefined && end < start) return undefined;
  if (start >= info.bytes) return 'unsatisfiable';
  // An end at or past the last byte means "to the end" (RFC 9110 §14.1.2), however many digits it
  // has: passed on, one beyond 2^53 failed the store's range check (400 for a valid request).
  return end === undefined || end >= info.bytes ? { start } : { start, end };
}

/**
 * Streams `body` to the response. A failure half-way (the store goes away) can no longer become an
 * error answer, the status being sent: the response is cut short, which the client sees as fewer
 * bytes than Content-Length said.
 */
async function send(body: NodeJS.ReadableStream, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    await pipeline(body, res);
  } catch {
    res.destroy();
    req.destroy();
  }
}
