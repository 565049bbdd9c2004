import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JsonValue } from '@tributary/protocol';
import { json, readBodyBytes, type HttpRoute, type Principal } from '@tributary/server';
import { putStreamTo } from './blob-streams.js';
import type { BlobInfo, BlobStore } from './blobs.js';
import { CappedBody } from './capped-body.js';
import { ImageError, ImageErrorCodes } from './errors.js';
import { checkUploadHead, SNIFF_BYTES, type UploadGrant, type UploadRequest, type UploadTokens } from './uploads.js';

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

/**
 * Publishes one upload event to `channel`, with `msgId` so a retried publish is stored once. The
 * node passes the broker's Publisher, so the event takes the platform path (validated, sized,
 * counted) like every other message instead of going straight to the engine.
 */
export type PublishUploadEvent = (channel: string, data: JsonValue, options: { msgId: string }) => Promise<unknown>;

/** What {@link uploadsHandler} needs, resolved by `imageRoutes`. */
export interface UploadsHandlerOptions {
  store: BlobStore;
  tokens: UploadTokens;
  publish: PublishUploadEvent;
  objectsChannel: string;
  grantChannel: string;
  can: (principal: Principal, action: 'publish', channel: string) => boolean;
  /** Base of URLs in answers and events, no trailing slash. */
  base: string;
}

/**
 * `/v1/uploads`: `POST` issues a token (a direct one on request when the store takes direct
 * uploads), `PUT|POST /<token>` streams the bytes through the broker to the store, `POST
 * /<token>/complete` checks and commits a direct upload. Errors are thrown as ImageErrors for the
 * caller (`imageRoutes`' guard) to answer.
 */
export function uploadsHandler(o: UploadsHandlerOptions): HttpRoute['handle'] {
  return async (req, res, principal, url) => {
    if (url.pathname === '/v1/uploads' && req.method === 'POST') return issue(o, req, res, principal);
    const m = /^\/v1\/uploads\/([A-Za-z0-9_-]+)(\/complete)?$/.exec(url.pathname);
    if (m !== null && m[2] === undefined && (req.method === 'PUT' || req.method === 'POST')) return upload(o, m[1] as string, req, res);
    if (m !== null && m[2] !== undefined && req.method === 'POST') return complete(o, m[1] as string, req, res);
    throw new ImageError(ImageErrorCodes.NOT_FOUND, `no route for ${req.method} ${url.pathname}`);
  };
}

async function issue(o: UploadsHandlerOptions, req: IncomingMessage, res: ServerResponse, principal: Principal): Promise<void> {
  if (!o.can(principal, 'publish', o.grantChannel)) {
    // No credentials at all is the caller's to fix by sending some, as on every other route.
    if (req.headers.authorization === undefined && !principal.admin) {
      throw new ImageError(
        ImageErrorCodes.UNAUTHORIZED,
        `requesting an upload token needs credentials (Authorization: Bearer <token>) with a publish grant on ${o.grantChannel}`,
      );
    }
    throw new ImageError(ImageErrorCodes.FORBIDDEN, `requesting an upload token needs a publish grant on ${o.grantChannel}`);
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
  const request: UploadRequest = {};
  if (principal.sub !== undefined) request.sub = principal.sub;
  if (typeof opts.maxBytes === 'number') request.maxBytes = opts.maxBytes;
  if (typeof opts.ttlSeconds === 'number') request.ttlSeconds = opts.ttlSeconds;
  if (Array.isArray(opts.contentTypes)) request.contentTypes = opts.contentTypes.filter((t): t is string => typeof t === 'string');
  if (opts.direct !== undefined) {
    const d = opts.direct as { bytes?: unknown; contentType?: unknown } | null;
    if (typeof d !== 'object' || d === null || typeof d.bytes !== 'number' || typeof d.contentType !== 'string')
      throw new ImageError(ImageErrorCodes.INVALID_SPEC, 'direct must be {"bytes": <exact size>, "contentType": "image/…"}');
    request.direct = { bytes: d.bytes, contentType: d.contentType };
  }
  const t = await o.tokens.issue(request);
  const answer = {
    token: t.token,
    key: t.key,
    uploadUrl: `${o.base}/v1/uploads/${t.token}`,
    method: 'PUT',
    headers: {} as Record<string, string>,
    maxBytes: t.maxBytes,
    contentTypes: t.contentTypes,
    expiresAt: t.expiresAt,
    // Asked for and possible: the client PUTs to the store, then POSTs completeUrl. A store that
    // cannot (the disk) answers a broker upload limited to the same size and type, so a client
    // that follows uploadUrl, headers and completeUrl (when present) works on either store.
    direct: false,
  };
  if (t.direct !== undefined && o.store.direct !== undefined) {
    const p = await o.store.direct.presignPut(t.key, {
      bytes: t.direct.bytes,
      contentType: t.direct.contentType,
      expiresInSeconds: (t.expiresAt - Date.now()) / 1000,
    });
    return json(res, 201, {
      ...answer,
      uploadUrl: p.url,
      headers: p.headers,
      completeUrl: `${o.base}/v1/uploads/${t.token}/complete`,
      direct: true,
    });
  }
  return json(res, 201, answer);
}

/**
 * An upload through the broker: the token is spent, the first bytes decide the type, and the rest
 * streams to the store with the token's cap enforced on the stream (see {@link CappedBody}).
 */
async function upload(o: UploadsHandlerOptions, token: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // A declared length no token could allow is refused before the token is spent.
  const declared = declaredLength(req);
  refuseOver(declared, o.tokens.maxBytes);
  const grant = await o.tokens.redeem(token);
  // … and one over this token's cap before a byte of the body is read.
  refuseOver(declared, grant.maxBytes);
  const body = new CappedBody(req, grant.maxBytes);
  const contentType = checkUploadHead(grant, await body.head(SNIFF_BYTES), req.headers['content-type']);
  const info = await body.race(
    putStreamTo(o.store, grant.key, body.body(), contentType, declared === undefined ? {} : { bytes: declared }),
  );
  await created(o, grant, info, res);
}

/**
 * A direct upload's completion: the token is looked at (not spent) and the pending upload found —
 * until it is there, the answer is NOT_FOUND and the token stays usable — then the token is spent,
 * the size and the type sniffed from its first bytes are checked against the grant, and it is
 * committed as the object (or discarded when refused) before the event is published.
 */
async function complete(o: UploadsHandlerOptions, token: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  await readBodyBytes(req, 4096);
  const grant = await o.tokens.peek(token);
  const direct = o.store.direct;
  if (grant.direct === undefined || direct === undefined)
    throw new ImageError(ImageErrorCodes.NOT_FOUND, `this token is not for a direct upload: PUT the bytes to /v1/uploads/${token}`);
  const pending = await direct.inspect(grant.key, SNIFF_BYTES);
  if (pending === undefined)
    throw new ImageError(ImageErrorCodes.NOT_FOUND, 'nothing was uploaded with this token yet: PUT the bytes to its uploadUrl first');
  await o.tokens.redeem(token);
  let contentType: string;
  try {
    if (pending.bytes !== grant.direct.bytes)
      throw new ImageError(
        pending.bytes > grant.direct.bytes ? ImageErrorCodes.TOO_LARGE : ImageErrorCodes.INVALID_SPEC,
        `upload is ${pending.bytes} bytes; the token was issued for ${grant.direct.bytes}`,
      );
    contentType = checkUploadHead(grant, pending.head, grant.direct.contentType);
  } catch (err) {
    await direct.discard(grant.key).catch(() => {});
    throw err;
  }
  const info = await direct.commit(grant.key, { contentType, version: pending.version, bytes: pending.bytes });
  await created(o, grant, info, res);
}

/** Publishes the object.created event of a stored upload and answers 201. */
async function created(o: UploadsHandlerOptions, grant: UploadGrant, info: BlobInfo, res: ServerResponse): Promise<void> {
  const event: ObjectCreatedEvent = {
    type: 'object.created',
    key: info.key,
    contentType: info.contentType,
    bytes: info.bytes,
    etag: info.etag,
    url: `${o.base}/v1/blobs/${info.key}`,
    time: info.createdAt,
  };
  if (grant.sub !== undefined) event.sub = grant.sub;
  try {
    await o.publish(o.objectsChannel, event as unknown as JsonValue, { msgId: `object:${info.key}` });
  } catch (err) {
    // The client is told the upload failed (the engine's error: UNAVAILABLE, CLOSED …), so the object
    // goes too: left in place it would be readable by its key but never announced, so never
    // transformed. (A publish that landed though its answer was lost then announces a missing
    // object: the block reports image.failed, which says the same as the answer did.)
    await o.store.delete(info.key).catch(() => {});
    throw err;
  }
  json(res, 201, { key: info.key, contentType: info.contentType, bytes: info.bytes, etag: info.etag, url: event.url });
}

/** The request's Content-Length, when it declares one. */
function declaredLength(req: IncomingMessage): number | undefined {
  const v = req.headers['content-length'];
  if (v === undefined || req.headers['transfer-encoding'] !== undefined) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Refuses a declared length over `max`, before anything is read. */
function refuseOver(declared: number | undefined, max: number): void {
  if (declared !== undefined && declared > max)
    throw new ImageError(ImageErrorCodes.TOO_LARGE, `body is ${declared} bytes; the limit is ${max}`);
}
