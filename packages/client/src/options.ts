import type { WebSocketConstructor } from './transport.js';

/** Where credentials come from: a fixed token, or a function called before every connection attempt. */
export type TokenSource = string | (() => string | Promise<string>);

/**
 * Reconnection backoff. The delay before attempt `n` (0 for the first retry) is drawn uniformly
 * from `[0, min(maxDelayMs, minDelayMs × factor^n)]` ("full jitter"), so many clients cut off at
 * once do not come back in lockstep. The attempt counter resets when a connection is welcomed.
 */
export interface ReconnectOptions {
  /**
   * Upper bound of the first retry's delay, in milliseconds.
   * @defaultValue 250
   */
  minDelayMs?: number;
  /**
   * Largest delay between attempts, in milliseconds.
   * @defaultValue 10_000
   */
  maxDelayMs?: number;
  /**
   * Growth of the delay bound per failed attempt.
   * @defaultValue 2
   */
  factor?: number;
}

/** Options of {@link TributaryClient}. */
export interface ClientOptions {
  /**
   * The broker's WebSocket endpoint, e.g. `ws://127.0.0.1:7700/v1/ws`. `http(s)://` is turned into
   * `ws(s)://`, and a URL without a path gets `/v1/ws`, so a broker's base URL works too.
   *
   * A list names several nodes of one cluster (brokers on the same Redis): the first connection goes
   * to the first, and after every failed attempt or lost connection the client moves on to the next
   * (round robin), so a dead node is left at once while subscriptions resume on another.
   */
  url: string | readonly string[];
  /**
   * Credentials, sent as `?token=` (browsers cannot set headers on a WebSocket). A function is
   * called again before every connection attempt, so it can return a fresh token after the broker
   * closed the connection with 4001 (expired or refused credentials).
   * @defaultValue no token (a broker in insecure mode)
   */
  token?: TokenSource;
  /**
   * The WebSocket implementation.
   * @defaultValue `globalThis.WebSocket` when it exists, else the `ws` package (loaded on first connect)
   */
  WebSocket?: WebSocketConstructor;
  /**
   * Automatic reconnection with exponential backoff and full jitter; `false` turns it off (the client
   * then stays `disconnected` after a drop until {@link TributaryClient.connect} is called again).
   * @defaultValue `{ minDelayMs: 250, maxDelayMs: 10_000, factor: 2 }`
   */
  reconnect?: ReconnectOptions | false;
  /**
   * How long a request (publish, subscribe, history, presence, ping) may take, including any time
   * spent waiting for a connection, before it is rejected with `TIMEOUT`.
   * @defaultValue 10_000
   */
  requestTimeoutMs?: number;
  /**
   * How long one connection attempt may take until the broker's `welcome` frame.
   * @defaultValue 10_000
   */
  connectTimeoutMs?: number;
  /**
   * Interval of application-level pings on an idle-looking connection; a ping unanswered within
   * `requestTimeoutMs` drops the connection and reconnects. `0` turns pings off.
   * @defaultValue 25_000
   */
  pingIntervalMs?: number;
  /**
   * When `false`, {@link TributaryClient.connect} rejects if the first connection attempt fails;
   * when `true` it keeps retrying with backoff until it succeeds or the client is closed.
   * @defaultValue false
   */
  waitOnFirstConnect?: boolean;
}

/** Client options with every default filled in and validated. */
export interface ResolvedClientOptions {
  /** The first of {@link urls}. */
  url: string;
  /** Every endpoint, normalized, in the order given (at least one). */
  urls: string[];
  token: TokenSource | undefined;
  WebSocket: WebSocketConstructor | undefined;
  reconnect: Required<ReconnectOptions> | false;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  pingIntervalMs: number;
  waitOnFirstConnect: boolean;
}

export const DEFAULT_RECONNECT_MIN_DELAY_MS = 250;
export const DEFAULT_RECONNECT_MAX_DELAY_MS = 10_000;
export const DEFAULT_RECONNECT_FACTOR = 2;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_PING_INTERVAL_MS = 25_000;
/** The broker's WebSocket path, added to URLs given without one. */
export const DEFAULT_WS_PATH = '/v1/ws';

/**
 * Validates options once, at the boundary, and fills in defaults. Mistakes are programming errors:
 * a `TypeError` naming the bad field.
 */
export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  if (options === null || typeof options !== 'object') throw new TypeError('client options are required');
  const raw = options.url;
  if (Array.isArray(raw) && raw.length === 0) throw new TypeError('url must name at least one endpoint');
  const urls = Array.isArray(raw) ? raw.map((u: unknown) => normalizeUrl(u)) : [normalizeUrl(raw)];
  const url = urls[0] as string;
  const token = options.token;
  if (token !== undefined && typeof token !== 'string' && typeof token !== 'function') {
    throw new TypeError('token must be a string or a function returning one');
  }
  if (typeof token === 'string' && token === '') throw new TypeError('token must not be empty');
  if (options.WebSocket !== undefined && typeof options.WebSocket !== 'function') {
    throw new TypeError('WebSocket must be a constructor');
  }
  let reconnect: ResolvedClientOptions['reconnect'] = false;
  if (options.reconnect !== false) {
    const r = options.reconnect ?? {};
    if (typeof r !== 'object' || r === null) throw new TypeError('reconnect must be an object or false');
    reconnect = {
      minDelayMs: r.minDelayMs ?? DEFAULT_RECONNECT_MIN_DELAY_MS,
      maxDelayMs: r.maxDelayMs ?? DEFAULT_RECONNECT_MAX_DELAY_MS,
      factor: r.factor ?? DEFAULT_RECONNECT_FACTOR,
    };
    nonNegative('reconnect.minDelayMs', reconnect.minDelayMs);
    nonNegative('reconnect.maxDelayMs', reconnect.maxDelayMs);
    if (reconnect.maxDelayMs < reconnect.minDelayMs) {
      throw new TypeError(`reconnect.maxDelayMs (${reconnect.maxDelayMs}) must be ≥ reconnect.minDelayMs (${reconnect.minDelayMs})`);
    }
    if (typeof reconnect.factor !== 'number' || !Number.isFinite(reconnect.factor) || reconnect.factor < 1) {
      throw new TypeError(`reconnect.factor must be a number ≥ 1, got ${String(reconnect.factor)}`);
    }
  }
  const resolved: ResolvedClientOptions = {
    url,
    urls,
    token,
    WebSocket: options.WebSocket,
    reconnect,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    pingIntervalMs: options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
    waitOnFirstConnect: options.waitOnFirstConnect ?? false,
  };
  positive('requestTimeoutMs', resolved.requestTimeoutMs);
  positive('connectTimeoutMs', resolved.connectTimeoutMs);
  nonNegative('pingIntervalMs', resolved.pingIntervalMs);
  if (typeof resolved.waitOnFirstConnect !== 'boolean') throw new TypeError('waitOnFirstConnect must be a boolean');
  return resolved;
}

function normalizeUrl(raw: unknown): string {
  if (typeof raw !== 'string' || raw === '') throw new TypeError('url is required, e.g. ws://127.0.0.1:7700/v1/ws');
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new TypeError(`url is not a valid URL: ${raw}`);
  }
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  else if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw new TypeError(`url must start with ws://, wss://, http:// or https://, got ${u.protocol}`);
  }
  if (u.pathname === '' || u.pathname === '/') u.pathname = DEFAULT_WS_PATH;
  if (u.searchParams.has('token')) throw new TypeError('url must not carry the token: use the token option');
  return u.toString();
}

function positive(field: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new TypeError(`${field} must be a positive number, got ${String(v)}`);
}

function nonNegative(field: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new TypeError(`${field} must be a number ≥ 0, got ${String(v)}`);
}
