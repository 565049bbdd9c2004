import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { StreamEngine } from '@tributary/engine';
import { httpStatusOf, json, REFUSED_BODY_DRAIN_BYTES, type HttpRoute, type Principal } from '@tributary/server';
import { blobHandler } from './blob-route.js';
import type { BlobStore } from './blobs.js';
import { ImageError, ImageErrorCodes, isImageError } from './errors.js';
import { decodeKey, matches } from './http-util.js';
import type { OnTheFly } from './otf.js';
import { uploadsHandler, type PublishUploadEvent } from './upload-routes.js';
import type { UploadTokens } from './uploads.js';

export type { ObjectCreatedEvent, PublishUploadEvent } from './upload-routes.js';

/** The channel object.created events go to by default (a system channel: clients need a grant naming it). */
export const DEFAULT_OBJECTS_CHANNEL = '$objects.created';
/** The channel a caller needs a `publish` grant on to request upload tokens. */
export const DEFAULT_UPLOAD_GRANT_CHANNEL = '$uploads';

/** Options of {@link imageRoutes}. */
export interface ImageRoutesOptions {
  store: BlobStore;
  tokens: UploadTokens;
  /**
   * How upload events are published; the node passes the broker's Publisher (platform path). When
   * absent, events are appended to `engine` directly.
   */
  publish?: PublishUploadEvent;
  /** Where object.created events are appended when `publish` is not given (one of the two is required). */
  engine?: Pick<StreamEngine, 'append'>;
  /** Serves /v1/images/…; without it that route answers 404. */
  otf?: OnTheFly;
  /**
   * Decides who may request upload tokens: pass the broker's `can`. Without it, only admins may.
   * The check made is `can(principal, 'publish', uploadGrantChannel)`.
   */
  can?: (principal: Principal, action: 'publish', channel: string) => boolean;
  /** @defaultValue '$uploads' */
  uploadGrantChannel?: string;
  /** @defaultValue '$objects.created' */
  objectsChannel?: string;
  /** Base of URLs in responses and events. @defaultValue '' (root-relative) */
  publicUrl?: string;
  /** Cache-Control of /v1/blobs responses. @defaultValue 'public, max-age=31536000, immutable' (keys are never reused) */
  blobCacheControl?: string;
}

/**
 * The image HTTP routes:
 * - `POST /v1/uploads` (admin, or a `publish` grant on `$uploads`): body `{maxBytes?, contentTypes?, ttlSeconds?}`
 *   → 201 `{token, key, uploadUrl, method: 'PUT', maxBytes, contentTypes, expiresAt}`;
 *   (with `direct: {bytes, contentType}` on a store that takes direct uploads: a presigned
 *   `uploadUrl` on the store, its `headers`, and a `completeUrl`);
 * - `PUT /v1/uploads/<token>` (no credentials: the token is one): the image bytes, streamed to the
 *   store under the token's cap → 201 `{key, contentType, bytes, etag, url}`, and an
 *   `object.created` event on the objects channel;
 * - `POST /v1/uploads/<token>/complete`: a direct upload checked and committed → the same 201 and event;
 * - `GET|HEAD /v1/blobs/<key>` (public: keys are unguessable): the bytes streamed from the store,
 *   with ETag, Cache-Control, 304 on If-None-Match and one byte range;
 * - `GET /v1/images/<signature>/<spec>/<key>` (public, HMAC-signed): transformed, cached.
 * Errors are `{ "error": { "code", "message" } }` with the status of `httpStatusOf` (@tributary/server).
 */
export function imageRoutes(o: ImageRoutesOptions): HttpRoute[] {
  const base = (o.publicUrl ?? '').replace(/\/+$/, '');
  const objectsChannel = o.objectsChannel ?? DEFAULT_OBJECTS_CHANNEL;
  const grantChannel = o.uploadGrantChannel ?? DEFAULT_UPLOAD_GRANT_CHANNEL;
  const can = o.can ?? ((p: Principal) => p.admin);
  const blobCache = o.blobCacheControl ?? 'public, max-age=31536000, immutable';
  const publish = uploadEventPublisher(o);

  const uploads: HttpRoute = {
    prefix: '/v1/uploads',
    allowAnonymous: true,
    handle: guarded(uploadsHandler({ store: o.store, tokens: o.tokens, publish, objectsChannel, grantChannel, can, base })),
  };

  const blobs: HttpRoute = {
    prefix: '/v1/blobs/',
    allowAnonymous: true,
    handle: guarded(blobHandler(o.store, blobCache)),
  };

  const images: HttpRoute = {
    prefix: '/v1/images/',
    allowAnonymous: true,
    handle: guarded(async (req, res, _principal, url) => {
      const m = /^\/v1\/images\/([^/]+)\/([^/]+)\/(.+)$/.exec(url.pathname);
      if (o.otf === undefined || m === null || (req.method !== 'GET' && req.method !== 'HEAD')) {
        throw new ImageError(ImageErrorCodes.NOT_FOUND, `no route for ${req.method} ${url.pathname}`);
      }
      const accept = req.headers.accept;
      const r = await o.otf.get(m[1] as string, m[2] as string, decodeKey(m[3] as string), accept);
      const headers: Record<string, string | number> = {
        etag: r.etag,
        'cache-control': r.cacheControl,
        'content-type': r.contentType,
        'x-content-type-options': 'nosniff',
        'x-tributary-cache': r.cache,
      };
      if (r.varyAccept) headers.vary = 'Accept';
      if (matches(req.headers['if-none-match'], r.etag)) return void res.writeHead(304, headers).end();
      res.writeHead(200, { ...headers, 'content-length': r.data.length });
      res.end(req.method === 'HEAD' ? undefined : r.data);
    }),
  };

  return [uploads, blobs, images];
}

type Handler = HttpRoute['handle'];

/** `publish` when given; else an append of the event's JSON to `engine`, as before `publish` existed. */
function uploadEventPublisher(o: Pick<ImageRoutesOptions, 'publish' | 'engine'>): PublishUploadEvent {
  if (o.publish !== undefined) return o.publish;
  const engine = o.engine;
  if (engine === undefined) throw new TypeError('imageRoutes: pass publish (or engine) to publish upload events');
  return (channel, data, { msgId }) => engine.append({ channel, payload: JSON.stringify(data), msgId });
}

/**
 * Answers ImageErrors itself; anything else goes to the broker, which answers INTERNAL. An error
 * answered before the request body was read in full is sent with `Connection: close` while the rest
 * of the body is read and dropped (see {@link answerEarly}).
 */
function guarded(fn: Handler): Handler {
  return async (req, res, principal, url) => {
    try {
      await fn(req, res, principal, url);
    } catch (err) {
      if (!isImageError(err)) throw err;
      const status = httpStatusOf(err.code);
      const extra: Record<string, string> = err.code === ImageErrorCodes.UNAUTHORIZED ? { 'www-authenticate': 'Bearer' } : {};
      if (req.complete || req.method === 'GET' || req.method === 'HEAD') json(res, status, { error: err.toJSON() }, extra);
      else answerEarly(req, res, status, { error: err.toJSON() }, extra);
    }
  };
}

/**
 * How much of a refused body is still read and dropped after the answer: the server contract's
 * bound (@tributary/server), re-exported where it always was.
 */
export { REFUSED_BODY_DRAIN_BYTES };
/** For how long at most a refused body is drained after the answer (see {@link REFUSED_BODY_DRAIN_BYTES}). */
export const REFUSED_BODY_LINGER_MS = 5000;

/**
 * Sends a complete error answer (with its Content-Length and `Connection: close`) while the request
 * body is still arriving, then reads and drops the body until it ends, {@link REFUSED_BODY_DRAIN_BYTES}
 * pass or {@link REFUSED_BODY_LINGER_MS} elapse; only then is the response ended, which closes the
 * connection. So the client reads the answer first, and a reset (if any) comes after it.
 */
function answerEarly(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, extra: OutgoingHttpHeaders): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...extra,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    connection: 'close',
  });
  res.write(text);
  let drained = 0;
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    req.off('data', onData);
    res.end();
  };
  const onData = (c: Buffer): void => {
    drained += c.length;
    if (drained > REFUSED_BODY_DRAIN_BYTES) finish();
  };
  const timer = setTimeout(finish, REFUSED_BODY_LINGER_MS);
  timer.unref();
  req.on('data', onData);
  req.once('end', finish);
  req.once('close', finish);
  req.resume();
}
