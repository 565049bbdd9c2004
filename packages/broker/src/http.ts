import type { IncomingMessage, ServerResponse } from 'node:http';
import { nanoid } from 'nanoid';
import { channelProblem, ErrorCodes, isTraceparent, TributaryError, type JsonValue } from '@tributary/protocol';
import { bearerOf, httpStatusOf, json, readBody, type Principal } from '@tributary/server';
import { handleAdmin, isBrokerAdminPath } from './admin.js';
import { authenticate, authorize, INSECURE_PRINCIPAL } from './auth.js';
import type { BrokerContext } from './context.js';
import type { PublishRequest } from './publisher.js';
import { originProblem } from './origin.js';
import { toTributaryError } from './session.js';
import { mayReadChannel, toHistoryMessage } from './lineage.js';

/** Who a request without credentials acts as on routes that allow it: nothing granted. */
const ANONYMOUS_PRINCIPAL: Principal = Object.freeze({ admin: false, grants: Object.freeze({}) });

const CHANNEL_ROUTE = /^\/v1\/channels\/([^/]+)\/(messages|presence)$/;

/** The broker's own endpoints, as `GET /` lists them after the links it was given. */
const OWN_LINKS: Readonly<Record<string, string>> = Object.freeze({
  websocket: '/v1/ws',
  messages: '/v1/channels/{channel}/messages',
  health: '/healthz',
  ready: '/readyz',
  metrics: '/metrics',
});

/**
 * The request target as a URL, or undefined when it cannot be one. The path is taken literally:
 * `new URL('//x', base)` would read `//x` as a host (and throws on `//`), so origin-form targets are
 * appended to a fixed origin instead of resolved against it.
 */
export function requestUrl(target: string | undefined): URL | undefined {
  const raw = target ?? '/';
  try {
    return raw.startsWith('/') ? new URL(`http://localhost${raw}`) : new URL(raw);
  } catch {
    return undefined;
  }
}

/**
 * The HTTP API on the broker's port. Errors are `{ "error": { "code", "message" } }` with the status
 * from httpStatusOf; credentials are `Authorization: Bearer <token or server secret>`.
 */
export async function handleHttp(ctx: BrokerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // A short id per request, echoed as x-request-id, ties a client's report to the log lines.
  const rid = nanoid(10);
  const log = ctx.log?.child({ req: rid });
  res.setHeader('x-request-id', rid);
  if (log?.isLevelEnabled('debug') === true) {
    const t0 = performance.now();
    // Only the path: query strings may carry credentials (?token=) or signed URLs.
    const path = (req.url ?? '/').split('?')[0];
    res.once('finish', () =>
      log.debug({ method: req.method, path, status: res.statusCode, ms: Math.round((performance.now() - t0) * 10) / 10 }, 'http request'),
    );
  }
  try {
    const url = requestUrl(req.url);
    if (url === undefined) throw new TributaryError(ErrorCodes.NOT_FOUND, 'malformed request target');
    if (ctx.options.auth.insecure) {
      const problem = originProblem(req.headers, { insecure: true, allowedOrigins: ctx.options.allowedOrigins });
      if (problem !== undefined) throw new TributaryError(ErrorCodes.FORBIDDEN_ORIGIN, problem);
    }
    if (isBrokerAdminPath(url.pathname)) {
      const principal = await principalOf(ctx, req);
      assertJsonBody(req, url, principal);
      return await handleAdmin(ctx, req, res, url, principal);
    }
    if (url.pathname === '/' && req.method === 'GET' && !ctx.options.routes.some((r) => r.prefix === '/')) {
      // Whoever opens the broker's address (in a browser, with curl) learns where to go next —
      // unless an application serves its own page there (a route for '/', as photo-board does).
      return json(res, 200, { service: 'tributary', node: ctx.options.nodeId, links: { ...ctx.options.links, ...OWN_LINKS } });
    }
    if (url.pathname === '/healthz' && req.method === 'GET') {
      await ctx.engine.ready();
      return json(res, 200, {
        ok: true,
        node: ctx.options.nodeId,
        engine: ctx.engine.kind,
        connections: ctx.sessions.size,
      });
    }
    if (url.pathname === '/readyz' && req.method === 'GET') {
      await ctx.engine.ready();
      const r = ctx.options.readiness();
      return json(
        res,
        r.ready ? 200 : 503,
        r.ready ? { ready: true, node: ctx.options.nodeId } : { ready: false, node: ctx.options.nodeId, reason: r.reason ?? 'starting' },
      );
    }
    if (url.pathname === '/metrics' && req.method === 'GET') {
      const principal = await principalOf(ctx, req);
      if (!principal.admin) throw new TributaryError(ErrorCodes.FORBIDDEN, '/metrics needs the broker secret');
      const text = await ctx.options.metrics.metrics();
      res.writeHead(200, { 'content-type': ctx.options.metrics.contentType });
      return void res.end(text);
    }
    const m = CHANNEL_ROUTE.exec(url.pathname);
    if (m === null) {
      const route = ctx.options.routes.find((r) => url.pathname.startsWith(r.prefix));
      if (route === undefined) throw new TributaryError(ErrorCodes.NOT_FOUND, `no route for ${req.method} ${url.pathname}`);
      const anonymous = route.allowAnonymous === true && !ctx.options.auth.insecure && req.headers.authorization === undefined;
      const principal = anonymous ? ANONYMOUS_PRINCIPAL : await principalOf(ctx, req);
      // Credentials first: a request without any learns that, whatever its body.
      if (!anonymous) assertJsonBody(req, url, principal);
      return await route.handle(req, res, principal, url);
    }
    const channel = channelOf(m[1] as string);
    const principal = await principalOf(ctx, req);
    assertJsonBody(req, url, principal);
    if (m[2] === 'presence' && req.method === 'GET') {
      authorize(principal, 'presence', channel);
      return json(res, 200, { channel, members: await ctx.engine.presenceList(channel) });
    }
    if (m[2] === 'messages' && req.method === 'POST') return await publish(ctx, req, res, channel, principal);
    if (m[2] === 'messages' && req.method === 'GET') {
      authorize(principal, 'history', channel);
      const since = intParam(url, 'since', 0, Number.MAX_SAFE_INTEGER);
      const limit = intParam(url, 'limit', 1, 1000) ?? 100;
      const r = await ctx.engine.read(channel, since === undefined ? { limit } : { limit, after: since });
      return json(res, 200, {
        channel,
        epoch: r.epoch,
        first: r.first,
        last: r.last,
        messages: r.entries.map((e) => toHistoryMessage(e, (parent) => mayReadChannel(principal, parent))),
      });
    }
    throw new TributaryError(ErrorCodes.NOT_FOUND, `no route for ${req.method} ${url.pathname}`);
  } catch (err) {
    const e = toTributaryError(err);
    ctx.prom.errors.inc({ code: e.code });
    if (e.code === ErrorCodes.INTERNAL) {
      ctx.prom.internalErrors.inc({ where: 'http' });
      log?.error({ err, method: req.method, path: (req.url ?? '/').split('?')[0] }, 'http request failed');
    }
    // A body too large to read ends the connection after the reply. Any other refusal before the
    // body was read lets Node read and drop the rest (keep-alive), so a client still sending sees
    // the reply rather than a broken pipe.
    if (e.code === ErrorCodes.PAYLOAD_TOO_LARGE && !req.complete && !res.headersSent) res.setHeader('connection', 'close');
    json(res, httpStatusOf(e.code), { error: { code: e.code, message: e.message } });
  }
}

async function publish(
  ctx: BrokerContext,
  req: IncomingMessage,
  res: ServerResponse,
  channel: string,
  principal: Principal,
): Promise<void> {
  // The envelope ({"data": …, "msgId": …}) may add a little to the data's own limit.
  const body = await readBody(req, ctx.options.maxPayloadBytes + 1024);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new TributaryError(ErrorCodes.BAD_JSON, 'body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || !('data' in parsed)) {
    throw new TributaryError(ErrorCodes.INVALID_FRAME, 'body must be {"data": <json>, "msgId"?: string}');
  }
  const { data, msgId } = parsed as { data: JsonValue; msgId?: unknown };
  if (msgId !== undefined && (typeof msgId !== 'string' || msgId.length === 0 || msgId.length > 128)) {
    throw new TributaryError(ErrorCodes.INVALID_FRAME, 'msgId must be a string of 1–128 characters');
  }
  const request: PublishRequest = { channel, data, principal };
  if (msgId !== undefined) request.msgId = msgId;
  // W3C trace context rides in its standard header; an invalid one is ignored, as the spec asks of
  // receivers (trace-context §3.2), rather than failing the publish.
  const traceparent = req.headers.traceparent;
  if (isTraceparent(traceparent)) request.traceparent = traceparent;
  const r = await ctx.publisher.publish(request);
  ctx.metrics.published++;
  ctx.prom.messagesIn.inc({ transport: 'http' });
  json(res, r.duplicate ? 200 : 201, { channel, offset: r.offset, epoch: r.epoch, time: r.time, duplicate: r.duplicate });
}

/** Routes whose state-changing requests carry JSON (or nothing) and so must say `application/json`. */
function isJsonApi(path: string): boolean {
  return path.startsWith('/v1/channels/') || path.startsWith('/v1/admin/') || path === '/v1/uploads';
}

/**
 * A page on any site can send a POST that needs no CORS preflight, if its Content-Type is one a
 * form could send (`text/plain`, form encodings) or absent. Requiring `application/json` on the JSON
 * API's state-changing routes takes those requests away from other sites, whatever the auth mode;
 * webhooks into request blocks (`/v1/blocks/…`) keep any body type, and need a `request` grant.
 */
function assertJsonBody(req: IncomingMessage, url: URL, principal: Principal): void {
  if (req.method !== 'POST' && req.method !== 'PUT' && req.method !== 'PATCH') return;
  if (!isJsonApi(url.pathname)) return;
  // Operator routes refuse everyone else (403) whatever the body: that answer comes first.
  if (url.pathname.startsWith('/v1/admin/') && !principal.admin) return;
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new TributaryError(ErrorCodes.UNSUPPORTED_MEDIA_TYPE, `${req.method} ${url.pathname} needs Content-Type: application/json`);
  }
}

async function principalOf(ctx: BrokerContext, req: IncomingMessage): Promise<Principal> {
  if (ctx.options.auth.insecure) return INSECURE_PRINCIPAL;
  return authenticate(bearerOf(req.headers.authorization), ctx.options.auth.secret);
}

/**
 * The channel in a URL, checked against the naming rules before any route uses it (a name with `{`
 * would reach Redis as a broken hash tag). Broken percent-encoding is INVALID_CHANNEL too, not a
 * URIError (500).
 */
function channelOf(segment: string): string {
  let channel: string;
  try {
    channel = decodeURIComponent(segment);
  } catch {
    throw new TributaryError(ErrorCodes.INVALID_CHANNEL, 'channel in the URL has broken percent-encoding');
  }
  const problem = channelProblem(channel, false);
  if (problem !== undefined) throw new TributaryError(ErrorCodes.INVALID_CHANNEL, `channel ${problem}`, { channel: channel.slice(0, 200) });
  return channel;
}

function intParam(url: URL, name: string, min: number, max: number): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new TributaryError(ErrorCodes.INVALID_FRAME, `${name} must be an integer from ${min} to ${max}`);
  }
  return n;
}
