import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { CloseCodes, ErrorCodes } from '@tributary/protocol';
import { nanoid } from 'nanoid';
import { WebSocketServer, type WebSocket } from 'ws';
import { bearerOf, type Principal } from '@tributary/server';
import { authenticate, INSECURE_PRINCIPAL } from './auth.js';
import { ChannelStats } from './channel-stats.js';
import type { BrokerContext } from './context.js';
import { contexts } from './contexts.js';
import { handleHttp, requestUrl } from './http.js';
import { watchLiveness } from './liveness.js';
import { originProblem } from './origin.js';
import { Corker } from './corker.js';
import { Hub } from './hub.js';
import { BrokerMetrics } from './metrics.js';
import { resolveBrokerOptions, type BrokerOptions } from './options.js';
import { PresenceManager } from './presence.js';
import { Publisher } from './publisher.js';
import { MAX_PENDING_FRAMES, Session, toTributaryError } from './session.js';

/** WebSocket endpoint path. */
export const WS_PATH = '/v1/ws';

/** A running broker. */
export interface Broker {
  /** http://host:port — the HTTP API. */
  readonly url: string;
  /** ws://host:port/v1/ws — the WebSocket endpoint. */
  readonly wsUrl: string;
  readonly port: number;
  readonly nodeId: string;
  /** The publish path this broker stores through (shared with the node's blocks and images). */
  readonly publisher: Publisher;
  /** Counts a bug contained by its caller in `tributary_internal_errors_total{where}`. */
  countInternalError(where: string): void;
  /** Stops accepting, closes every connection with 1001 (going away) and releases follows. */
  close(): Promise<void>;
}

/** Starts a broker: HTTP API and WebSocket endpoint on one port. */
export async function startBroker(options: BrokerOptions): Promise<Broker> {
  const opts = resolveBrokerOptions(options);
  const log = opts.logger?.child({ node: opts.nodeId });
  const sessions = new Set<Session>();
  // Assigned once, after the metrics it reports to (whose gauge reads it lazily): not a const.
  // biome-ignore lint/style/useConst: the metrics are built before the hub and read it later.
  let hub: Hub | undefined;
  const prom = new BrokerMetrics(opts.metrics, () => ({ connections: sessions.size, deliveries: hub?.deliveries ?? 0 }));
  hub = new Hub(opts.engine, (entry) => prom.fanoutLatency.observe(Math.max(0, Date.now() - entry.time) / 1000));
  const channelStats = new ChannelStats();
  // A node builds the Publisher first and shares it with its blocks and images; a broker started
  // on its own makes one.
  const publisher = opts.publisher ?? new Publisher(opts.engine, opts, opts.interceptors);
  if (opts.publisher !== undefined) for (const i of opts.interceptors) publisher.use(i);
  const unobserve = publisher.observe((s, channel, r, req) => {
    prom.engineLatency.observe({ op: 'append' }, s);
    if (!r.duplicate) channelStats.record(channel, r.offset, r.epoch, r.time);
    if (req.transport === 'block') prom.messagesIn.inc({ transport: 'block' });
  });
  const ctx: BrokerContext = {
    options: opts,
    engine: opts.engine,
    hub,
    presence: new PresenceManager(opts.engine, opts.presenceTtlMs, log),
    publisher,
    sessions,
    corker: new Corker(opts.writeCoalesceMs, Math.min(64 * 1024, Math.floor(opts.maxQueueBytes / 2))),
    metrics: { published: 0, badFrames: 0, slowConsumers: 0, refusedConnections: 0 },
    prom,
    log,
    channelStats,
    startedAt: Date.now(),
  };
  await opts.engine.ready();

  const server = createServer((req, res) => {
    handleHttp(ctx, req, res).catch((err: unknown) => {
      // handleHttp answers every error itself; reaching here is a bug, contained to this request.
      prom.internalErrors.inc({ where: 'http' });
      log?.error({ err }, 'http handler failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
      res.end();
    });
  });
  // Frames over maxPayload cannot even be read (ws closes with 1009); leave room so a payload a
  // little over the data limit still gets a typed PAYLOAD_TOO_LARGE error on a live connection.
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxPayloadBytes * 4 + 4096,
    perMessageDeflate: false,
    skipUTF8Validation: true,
  });
  const perIp = new Map<string, number>();

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Parsed without throwing: an exception here would escape the event handler and end the process.
    const url = requestUrl(req.url);
    if (url?.pathname !== WS_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const problem = originProblem(req.headers, { insecure: opts.auth.insecure, allowedOrigins: opts.allowedOrigins });
    if (problem !== undefined) {
      ctx.prom.errors.inc({ code: ErrorCodes.FORBIDDEN_ORIGIN });
      const body = JSON.stringify({ error: { code: ErrorCodes.FORBIDDEN_ORIGIN, message: problem } });
      socket.end(
        `HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      accept(ws, req, url).catch((err: unknown) => {
        prom.internalErrors.inc({ where: 'accept' });
        log?.error({ err }, 'accepting a connection failed');
        ws.terminate();
      });
    });
  });

  async function accept(ws: WebSocket, req: IncomingMessage, url: URL): Promise<void> {
    const ip = req.socket.remoteAddress ?? '?';
    const fromIp = perIp.get(ip) ?? 0;
    if (ctx.sessions.size >= opts.maxConnections || fromIp >= opts.maxConnectionsPerIp) {
      ctx.metrics.refusedConnections++;
      refuse(ws, ErrorCodes.LIMIT_EXCEEDED, 'too many connections', CloseCodes.TOO_MANY_CONNECTIONS);
      return;
    }
    perIp.set(ip, fromIp + 1);
    ws.once('close', () => {
      const n = (perIp.get(ip) ?? 1) - 1;
      if (n <= 0) perIp.delete(ip);
      else perIp.set(ip, n);
    });
    watchLiveness(ws, opts, (reason) => {
      prom.deadPeers.inc({ reason });
      log?.debug({ ip, reason }, 'dead peer cut');
    });
    // Frames sent right after the socket opened arrive while the token is checked: keep them (and
    // stop reading past a bound) for the session, which handles them first.
    const early: Array<[Buffer, boolean]> = [];
    const onEarly = (data: Buffer, isBinary: boolean): void => {
      early.push([data, isBinary]);
      if (early.length === MAX_PENDING_FRAMES) ws.pause();
    };
    ws.on('message', onEarly);
    let principal: Principal;
    try {
      principal = opts.auth.insecure ? INSECURE_PRINCIPAL : await authenticate(credentialOf(req, url), opts.auth.secret);
    } catch (err) {
      const e = toTributaryError(err);
      refuse(ws, e.code, e.message, CloseCodes.UNAUTHORIZED);
      return;
    } finally {
      ws.off('message', onEarly);
    }
    // Closed while its token was checked: its 'close' has fired already, so a session made now
    // would never be removed (and would count against maxConnections for ever).
    if (ws.readyState !== ws.OPEN) return;
    const session = new Session(nanoid(12), ws, principal, ctx, early);
    ctx.sessions.add(session);
    // Same `conn` id as the session's own child logger, so one connection's lines can be followed.
    log?.debug({ conn: session.id, ip, sub: principal.sub, admin: principal.admin }, 'connection open');
    ws.once('close', (code: number) => log?.debug({ conn: session.id, code }, 'connection closed'));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  log?.info({ port, host: opts.host, engine: opts.engine.kind, insecure: opts.auth.insecure }, 'broker listening');

  let closing: Promise<void> | undefined;
  const broker: Broker = {
    url: `http://${hostForUrl}:${port}`,
    wsUrl: `ws://${hostForUrl}:${port}${WS_PATH}`,
    port,
    nodeId: opts.nodeId,
    publisher,
    countInternalError: (where) => prom.internalErrors.inc({ where }),
    close() {
      closing ??= (async () => {
        unobserve();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const s of [...ctx.sessions]) s.close(CloseCodes.GOING_AWAY, 'broker shutting down');
        // Held frames and the close frames leave before the sockets are cut.
        ctx.corker.flush();
        for (const ws of wss.clients) ws.terminate();
        server.closeAllConnections();
        await Promise.allSettled([ctx.presence.close(), ctx.hub.close()]);
        await closed;
      })();
      return closing;
    },
  };
  // Tests and benchmarks in this repository reach the insides through '@tributary/broker/internal'.
  contexts.set(broker, ctx);
  return broker;
}

/** Token from `?token=` (browsers cannot set headers on WebSocket) or `Authorization: Bearer`. */
function credentialOf(req: IncomingMessage, url: URL): string | undefined {
  const q = url.searchParams.get('token');
  if (q !== null) return q;
  return bearerOf(req.headers.authorization);
}

/** Tells the client why in an error frame, then closes with `closeCode` (reason = the error code). */
function refuse(ws: WebSocket, code: string, message: string, closeCode: number): void {
  ws.send(JSON.stringify({ type: 'error', code, message }));
  ws.close(closeCode, code);
  setTimeout(() => ws.terminate(), 2000).unref();
}
