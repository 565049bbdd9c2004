import type { StreamEngine } from '@tributary/engine';
import { nanoid } from 'nanoid';
import { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { HttpRoute } from '@tributary/server';
import { assertSecret } from './auth.js';
import type { Publisher, PublishInterceptor } from './publisher.js';

/** Authentication: a secret for signed tokens, or explicit insecure mode for local development. */
export type AuthOptions =
  | {
      /**
       * HMAC secret (≥ 32 bytes) that tokens are signed with; also accepted as a bearer credential by
       * the HTTP API and WebSocket, with every grant (the server/admin secret).
       */
      secret: string;
      insecure?: false;
    }
  | {
      /** No credentials checked: everyone may do everything. Refused on non-loopback hosts. */
      insecure: true;
    };

/** Options of {@link startBroker}. */
export interface BrokerOptions {
  /** The storage engine (MemoryEngine or RedisEngine). The broker does not close it. */
  engine: StreamEngine;
  auth: AuthOptions;
  /**
   * TCP port; 0 picks a free one.
   * @defaultValue 7700
   */
  port?: number;
  /**
   * Interface to listen on.
   * @defaultValue '127.0.0.1'
   */
  host?: string;
  /**
   * Largest message `data`, in bytes of its JSON encoding.
   * @defaultValue 65_536
   */
  maxPayloadBytes?: number;
  /**
   * Outgoing bytes a client may have queued (unsent) before it is closed as a slow consumer (4008).
   * @defaultValue 4_194_304 (4 MiB)
   */
  maxQueueBytes?: number;
  /**
   * Adaptive write coalescing, ms (Nagle's rule with a clock): a message frame for a socket written
   * less than this long ago waits until the next tick of a shared `writeCoalesceMs` grid and leaves
   * with whatever else arrived for that socket meanwhile. A socket receiving fewer messages than one
   * per interval is never delayed; a busier one is written about once per interval, so system calls
   * per delivery fall as its rate rises, for at most this much added latency. Replies (acks,
   * history, errors) never wait. 0: off — frames of one event-loop turn are still written together.
   * Worth it when subscribers get many messages per second that reach the node one at a time.
   * @defaultValue 0
   */
  writeCoalesceMs?: number;
  /**
   * Subscriptions one connection may hold.
   * @defaultValue 1000
   */
  maxSubscriptions?: number;
  /**
   * Open WebSocket connections in total / from one remote address.
   * @defaultValue 100_000 / 10_000
   */
  maxConnections?: number;
  maxConnectionsPerIp?: number;
  /**
   * A WebSocket ping is sent to every connection this often, ms; see `pongTimeoutMs`.
   * @defaultValue 25_000 (Centrifugo's default)
   */
  pingIntervalMs?: number;
  /**
   * A connection that does not answer a ping with a pong within this long is cut (its presence
   * leaves with it), ms. A vanished peer is noticed within `pingIntervalMs + pongTimeoutMs`.
   * @defaultValue 8_000 (Centrifugo's default)
   */
  pongTimeoutMs?: number;
  /**
   * A WebSocket frame whose first bytes arrived must be complete within this long, ms; a peer that
   * dribbles or holds a partial frame is cut.
   * @defaultValue 30_000
   */
  frameTimeoutMs?: number;
  /**
   * Web origins (`https://app.example.com`, scheme + host + port as browsers send them in `Origin`)
   * whose pages may open WebSockets and, in insecure mode, call the HTTP API. A request from the
   * broker's own origin (the `Host` it was sent to) is always allowed, and so is one without an
   * `Origin` header (not from a browser). `'*'` allows every origin. In insecure mode, pages served
   * from a loopback origin (`http://localhost:5173`, `http://127.0.0.1:*`) are allowed too, and
   * requests whose `Host` is not a loopback name are refused (DNS rebinding).
   * @defaultValue []
   */
  allowedOrigins?: string[];
  /**
   * How long a presence entry lives without a refresh; a crashed node's members vanish after it.
   * @defaultValue 30_000
   */
  presenceTtlMs?: number;
  /**
   * Maximum nesting depth of message data.
   * @defaultValue 32
   */
  maxDepth?: number;
  /**
   * Most block hops a message may take (block → publish → block …) before it is refused.
   * @defaultValue 8
   */
  maxHops?: number;
  /** This node's id, shown in presence and /healthz. @defaultValue a random id */
  nodeId?: string;
  /** Logger (pino). @defaultValue a pino logger at level 'info' on stdout */
  logger?: Logger;
  /** Hooks run on every publish before it is stored (before-publish blocks). */
  interceptors?: PublishInterceptor[];
  /**
   * The publish path to store through, when the caller built it first (a node shares one Publisher
   * between broker, blocks and images). Its limits are its own: build it from this broker's
   * resolved options. @defaultValue a Publisher of this broker's own
   */
  publisher?: Publisher;
  /** Extra HTTP routes (blocks, admin), tried in order after the built-in ones. */
  routes?: HttpRoute[];
  /**
   * Prometheus registry for the broker's metrics, served at GET /metrics (admin credentials unless
   * insecure). Pass one to add other components' metrics (blocks, images) to the same page.
   * @defaultValue a new Registry
   */
  metrics?: Registry;
  /**
   * Whether the node is ready for traffic beyond the broker itself (blocks loaded, …), served at
   * `GET /readyz`: 200 when it returns `{ ready: true }`, 503 with its `reason` otherwise. `/healthz`
   * stays about liveness (the engine answers).
   * @defaultValue always ready
   */
  readiness?: () => Readiness;
  /**
   * Links `GET /` lists besides the broker's own endpoints (WebSocket, health, readiness, metrics,
   * messages), name → URL: a node adds its console and the docs, so a person who opens the
   * broker's address in a browser learns where to go.
   * @defaultValue {}
   */
  links?: Readonly<Record<string, string>>;
}

/** What {@link BrokerOptions.readiness} reports. */
export interface Readiness {
  ready: boolean;
  /** Why not ready, shown in the 503 reply. */
  reason?: string;
}

/** Broker options with every default filled in and validated. */
export interface ResolvedBrokerOptions {
  engine: StreamEngine;
  auth: { insecure: true } | { insecure: false; secret: string };
  port: number;
  host: string;
  maxPayloadBytes: number;
  maxQueueBytes: number;
  writeCoalesceMs: number;
  maxSubscriptions: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  presenceTtlMs: number;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  frameTimeoutMs: number;
  allowedOrigins: string[];
  maxDepth: number;
  maxHops: number;
  nodeId: string;
  logger: Logger | undefined;
  interceptors: PublishInterceptor[];
  publisher: Publisher | undefined;
  routes: HttpRoute[];
  metrics: Registry;
  readiness: () => Readiness;
  links: Readonly<Record<string, string>>;
}

export const DEFAULT_PORT = 7700;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024;
export const DEFAULT_MAX_QUEUE_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_SUBSCRIPTIONS = 1000;
export const DEFAULT_MAX_CONNECTIONS = 100_000;
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 10_000;
export const DEFAULT_PRESENCE_TTL_MS = 30_000;
export const DEFAULT_MAX_DEPTH = 32;
export const DEFAULT_PING_INTERVAL_MS = 25_000;
export const DEFAULT_PONG_TIMEOUT_MS = 8_000;
export const DEFAULT_FRAME_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_HOPS = 8;

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Validates options once, at the boundary; errors name the bad field. */
export function resolveBrokerOptions(o: BrokerOptions): ResolvedBrokerOptions {
  if (o === null || typeof o !== 'object') throw new TypeError('broker options are required');
  if (o.engine === undefined || typeof o.engine.append !== 'function') throw new TypeError('engine is required');
  const host = o.host ?? DEFAULT_HOST;
  let auth: ResolvedBrokerOptions['auth'];
  if (o.auth?.insecure === true) {
    if (!LOOPBACK.has(host)) {
      throw new TypeError(`auth.insecure is only allowed on loopback hosts, not ${host}: set auth.secret`);
    }
    auth = { insecure: true };
  } else {
    const secret = (o.auth as { secret?: unknown } | undefined)?.secret;
    assertSecret(secret, 'auth.secret');
    auth = { insecure: false, secret };
  }
  const r: ResolvedBrokerOptions = {
    engine: o.engine,
    auth,
    port: o.port ?? DEFAULT_PORT,
    host,
    maxPayloadBytes: o.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
    maxQueueBytes: o.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES,
    writeCoalesceMs: o.writeCoalesceMs ?? 0,
    maxSubscriptions: o.maxSubscriptions ?? DEFAULT_MAX_SUBSCRIPTIONS,
    maxConnections: o.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    maxConnectionsPerIp: o.maxConnectionsPerIp ?? DEFAULT_MAX_CONNECTIONS_PER_IP,
    presenceTtlMs: o.presenceTtlMs ?? DEFAULT_PRESENCE_TTL_MS,
    pingIntervalMs: o.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
    pongTimeoutMs: o.pongTimeoutMs ?? DEFAULT_PONG_TIMEOUT_MS,
    frameTimeoutMs: o.frameTimeoutMs ?? DEFAULT_FRAME_TIMEOUT_MS,
    allowedOrigins: o.allowedOrigins ?? [],
    maxDepth: o.maxDepth ?? DEFAULT_MAX_DEPTH,
    maxHops: o.maxHops ?? DEFAULT_MAX_HOPS,
    nodeId: o.nodeId ?? nanoid(8),
    logger: o.logger,
    interceptors: o.interceptors ?? [],
    publisher: o.publisher,
    routes: o.routes ?? [],
    metrics: o.metrics ?? new Registry(),
    readiness: o.readiness ?? (() => ({ ready: true })),
    links: o.links ?? {},
  };
  if (!Number.isInteger(r.port) || r.port < 0 || r.port > 65535) throw new TypeError(`port must be 0–65535, got ${r.port}`);
  if ('writeDelayMs' in o) throw new TypeError('writeDelayMs was replaced by writeCoalesceMs (adaptive: quiet sockets never wait)');
  if (!Number.isInteger(r.writeCoalesceMs) || r.writeCoalesceMs < 0 || r.writeCoalesceMs > 100) {
    throw new TypeError(`writeCoalesceMs must be an integer from 0 to 100, got ${String(r.writeCoalesceMs)}`);
  }
  for (const f of [
    'maxPayloadBytes',
    'maxQueueBytes',
    'maxSubscriptions',
    'maxConnections',
    'maxConnectionsPerIp',
    'presenceTtlMs',
    'pingIntervalMs',
    'pongTimeoutMs',
    'frameTimeoutMs',
    'maxDepth',
    'maxHops',
  ] as const) {
    const v = r[f];
    if (!Number.isSafeInteger(v) || v <= 0) throw new TypeError(`${f} must be a positive integer, got ${String(v)}`);
  }
  if (typeof r.links !== 'object' || r.links === null || !Object.values(r.links).every((v) => typeof v === 'string')) {
    throw new TypeError('links must map names to URL strings');
  }
  if (!Array.isArray(r.allowedOrigins) || !r.allowedOrigins.every((x) => typeof x === 'string' && (x === '*' || isOrigin(x)))) {
    throw new TypeError("allowedOrigins must be a list of origins such as 'https://app.example.com', or '*'");
  }
  return r;
}

/** True for a serialised origin: scheme, host and optional port, nothing else (as browsers send it). */
function isOrigin(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === s;
  } catch {
    return false;
  }
}
