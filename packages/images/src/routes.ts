import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { StreamEngine } from '@tributary/engine';
import { ErrorCodes, isTributaryError, type JsonValue } from '@tributary/protocol';
import { httpStatusOf, json, readBodyBytes, REFUSED_BODY_DRAIN_BYTES, type HttpRoute, type Principal } from '@tributary/server';
import { isValidBlobKey, type BlobStore } from './blobs.js';
import { ImageError, ImageErrorCodes, isImageError } from './errors.js';
import type { OnTheFly } from './otf.js';
import { checkUpload, type UploadTokens } from './uploads.js';

/** The `object.created` event published when an upload completes. */
export interface ObjectCreatedEvent {
  type: 'object.created';
  key: string;
  contentType: string;
  bytes: number;
  etag: string;
  /** Download URL (root-relative unless a public URL is configured). */
  url: string;
  /** The `sub` of whoever requested the upload token, when there was one. */
  sub?: string;
  time: number;
}

/** The channel object.created events go to by default (a system channel: clients need a grant naming it). */
export const DEFAULT_OBJECTS_CHANNEL = '$objects.created';
/** The channel a caller needs a `publish` grant on to request upload tokens. */
export const DEFAULT_UPLOAD_GRANT_CHANNEL = '$uploads';

/**
 * Publishes one upload event to `channel`, with `msgId` so a retried publish is stored once. The
 * node passes the broker's Publisher, so the event takes the platform path (validated, sized,
 * counted) like every other message instead of going straight to the engine.
 */
export type PublishUploadEvent = (channel: string, data: JsonValue, options: { msgId: string }) => Promise<unknown>;

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
 * - `PUT /v1/uploads/<token>` (no credentials: the token is one): the image bytes → 201
 *   `{key, contentType, bytes, etag, url}`, and an `object.created` event on the objects channel;
 * - `GET|HEAD /v1/blobs/<key>` (public: keys are unguessable): the bytes, with ETag, Cache-Control
 *   and 304 on If-None-Match;
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
    handle: guarded(async (req, res, principal, url) => {
      if (url.pathname === '/v1/uploads' && req.method === 'POST') {
        if (!can(principal, 'publish', grantChannel)) {
          // No credentials at all is the caller's to fix by sending some, as on every other route.
          if (req.headers.authorization === undefined && !principal.admin) {
            throw new ImageError(
              ImageErrorCodes.UNAUTHORIZED,
              `requesting an upload token needs credentials (Authorization: Bearer <token>) with a publish grant on ${grantChannel}`,
            );
          }
          throw new ImageError(ImageErrorCodes.FORBIDDEN, `requesting an upload token needs a publish grant on ${grantChannel}`);
        }
        // Over 4 KiB is the server contract's PAYLOAD_TOO_LARGE (413), answered by the broker.
        const body = await readBodyBytes(req, 4096);
        let opts: Record<string, unknown> = {};
        if (body.length > 0) {
          try {
            opts = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
          } catch {
            throw new ImageError(ImageErrorCodes.INVALID_SPEC, 'body must be JSON');
          }
          if (typeof opts !== 'object' || opts === null || Array.isArray(opts))
            throw new ImageError(ImageErrorCodes.INVALID_SPEC, 'body must be a JSON object');
        }
        const request: Parameters<UploadTokens['issue']>[0] = {};
        if (principal.sub !== undefined) request.sub = principal.sub;
        if (typeof opts.maxBytes === 'number') request.maxBytes = opts.maxBytes;
        if (typeof opts.ttlSeconds === 'number') request.ttlSeconds = opts.ttlSeconds;
        if (Array.isArray(opts.contentTypes)) request.contentTypes = opts.contentTypes.filter((t): t is string => typeof t === 'string');
        const t = await o.tokens.issue(request);
        return json(res, 201, {
          token: t.token,
          key: t.key,
          uploadUrl: `${base}/v1/uploads/${t.token}`,
          method: 'PUT',
          maxBytes: t.maxBytes,
          contentTypes: t.contentTypes,
          expiresAt: t.expiresAt,
        });
      }
      const m = /^\/v1\/uploads\/([A-Za-z0-9_-]+)$/.exec(url.pathname);
      if (m !== null && (req.method === 'PUT' || req.method === 'POST')) {
        // A declared length no token could allow is refused before the token is spent.
        refuseDeclaredOver(req, o.tokens.maxBytes);
        const grant = await o.tokens.redeem(m[1] as string);
        const data = await readUpload(req, grant.maxBytes);
        const contentType = checkUpload(grant, data, req.headers['content-type']);
        const info = await o.store.put(grant.key, data, contentType);
        const event: ObjectCreatedEvent = {
          type: 'object.created',
          key: info.key,
          contentType,
          bytes: info.bytes,
          etag: info.etag,
          url: `${base}/v1/blobs/${info.key}`,
          time: info.createdAt,
        };
        if (grant.sub !== undefined) event.sub = grant.sub;
        await publish(objectsChannel, event as unknown as JsonValue, { msgId: `object:${info.key}` });
        return json(res, 201, { key: info.key, contentType, bytes: info.bytes, etag: info.etag, url: event.url });
      }
      throw new ImageError(ImageErrorCodes.NOT_FOUND, `no route for ${req.method} ${url.pathname}`);
    }),
  };

  const blobs: HttpRoute = {
    prefix: '/v1/blobs/',
    allowAnonymous: true,
    handle: guarded(async (req, res, _principal, url) => {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        throw new ImageError(ImageErrorCodes.NOT_FOUND, `no route for ${req.method} ${url.pathname}`);
      const key = decodeKey(url.pathname.slice('/v1/blobs/'.length));
      if (!isValidBlobKey(key)) throw new ImageError(ImageErrorCodes.INVALID_KEY, 'invalid blob key');
      const info = await o.store.head(key);
      if (info === undefined) throw new ImageError(ImageErrorCodes.NOT_FOUND, `no object ${key}`);
      const headers = {
        etag: info.etag,
        'cache-control': blobCache,
        'content-type': info.contentType,
        'x-content-type-options': 'nosniff',
      };
      if (matches(req.headers['if-none-match'], info.etag)) return void res.writeHead(304, headers).end();
      if (req.method === 'HEAD') return void res.writeHead(200, { ...headers, 'content-length': info.bytes }).end();
      const obj = await o.store.get(key);
      if (obj === undefined) throw new ImageError(ImageErrorCodes.NOT_FOUND, `no object ${key}`);
      res.writeHead(200, { ...headers, 'content-length': obj.data.length });
      res.end(obj.data);
    }),
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

/** A key from its URL segment; bad percent-encoding is the client's INVALID_KEY, not our URIError. */
function decodeKey(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ImageError(ImageErrorCodes.INVALID_KEY, 'invalid blob key: bad percent-encoding');
  }
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

function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(',').some((t) => t.trim() === etag || t.trim() === `W/${etag}` || t.trim() === '*');
}

/** Refuses a request whose declared Content-Length is over `max`, before anything is read. */
function refuseDeclaredOver(req: IncomingMessage, max: number): void {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    throw new ImageError(ImageErrorCodes.TOO_LARGE, `body is ${declared} bytes; the limit is ${max}`);
  }
}

/**
 * An upload's bytes, read by the server contract's reader: over `max` (the token's cap) it is
 * images' TOO_LARGE (413), the code upload clients have always been answered with, and the rest of
 * the body is drained while {@link guarded} answers early.
 */
async function readUpload(req: IncomingMessage, max: number): Promise<Buffer> {
  try {
    return await readBodyBytes(req, max);
  } catch (err) {
    if (isTributaryError(err, ErrorCodes.PAYLOAD_TOO_LARGE)) throw new ImageError(ImageErrorCodes.TOO_LARGE, err.message, { cause: err });
    throw err;
  }
}
