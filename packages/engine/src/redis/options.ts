import { resolveEngineOptions, positiveInt, type EngineOptions, type ResolvedEngineOptions } from '../options.js';

/** Default prefix of every key and pub/sub channel the Redis engine uses. */
export const DEFAULT_KEY_PREFIX = 'tributary:';
/** Default bound on one Redis command, including waiting for a reconnect: 5 s. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 5_000;
/** Default TCP connect timeout: 5 s. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** Default cap of the reconnect backoff (100 ms, 200 ms, … up to this): 2 s. */
export const DEFAULT_MAX_RECONNECT_DELAY_MS = 2_000;
/** Default URL when neither `url` nor `cluster` is given. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** A Redis Cluster seed node. */
export interface RedisNode {
  host: string;
  port: number;
}

/** Options of {@link RedisEngine}. */
export interface RedisEngineOptions extends EngineOptions {
  /**
   * A single Redis server, `redis://[user:pass@]host:port[/db]` (or `rediss://` for TLS).
   * Ignored when `cluster` is given.
   * @defaultValue 'redis://127.0.0.1:6379'
   */
  url?: string;
  /** A Redis Cluster: some of its nodes; the rest are discovered. */
  cluster?: { nodes: RedisNode[] };
  /**
   * Prefix of every key and pub/sub channel, so several deployments (or tests) share one Redis.
   * Must not contain `{` or `}`: the channel name in braces is the Cluster hash tag.
   * @defaultValue 'tributary:'
   */
  keyPrefix?: string;
  /**
   * How long one operation may take, including waiting for a lost connection to come back, before
   * it fails with UNAVAILABLE.
   * @defaultValue 5000
   */
  commandTimeoutMs?: number;
  /**
   * TCP connect timeout in milliseconds.
   * @defaultValue 5000
   */
  connectTimeoutMs?: number;
  /**
   * Upper bound of the reconnect backoff in milliseconds; the engine reconnects forever.
   * @defaultValue 2000
   */
  maxReconnectDelayMs?: number;
}

/** {@link RedisEngineOptions} validated, with every default filled in. */
export interface ResolvedRedisEngineOptions extends ResolvedEngineOptions {
  url: string;
  cluster: RedisNode[] | undefined;
  keyPrefix: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  maxReconnectDelayMs: number;
  /**
   * How long the meta hash (epoch, last offset) lives after the last append: twice the maximum age.
   * It must outlive the stream so that a client that saw everything before the history aged out can
   * still resume in the same epoch (first = last + 1, nothing missed) instead of being told its
   * history was lost; after that it expires too and the channel starts a new epoch.
   */
  metaTtlMs: number;
}

/** Validates {@link RedisEngineOptions} once, at the boundary, naming the bad field (TypeError). */
export function resolveRedisEngineOptions(options: RedisEngineOptions = {}): ResolvedRedisEngineOptions {
  const base = resolveEngineOptions(options);
  const url = options.url ?? DEFAULT_REDIS_URL;
  if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
    throw new TypeError(`url must start with redis:// or rediss://, got ${String(url)}`);
  }
  let cluster: RedisNode[] | undefined;
  if (options.cluster !== undefined) {
    const nodes = options.cluster?.nodes;
    if (!Array.isArray(nodes) || nodes.length === 0) throw new TypeError('cluster.nodes must be a non-empty array');
    nodes.forEach((n, i) => {
      if (typeof n?.host !== 'string' || n.host === '') throw new TypeError(`cluster.nodes[${i}].host must be a string`);
      positiveInt(`cluster.nodes[${i}].port`, n.port);
    });
    cluster = nodes.map((n) => ({ host: n.host, port: n.port }));
  }
  const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  if (typeof keyPrefix !== 'string' || /[{}]/.test(keyPrefix)) {
    throw new TypeError(`keyPrefix must be a string without { or }, got ${String(keyPrefix)}`);
  }
  const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const maxReconnectDelayMs = options.maxReconnectDelayMs ?? DEFAULT_MAX_RECONNECT_DELAY_MS;
  positiveInt('commandTimeoutMs', commandTimeoutMs);
  positiveInt('connectTimeoutMs', connectTimeoutMs);
  positiveInt('maxReconnectDelayMs', maxReconnectDelayMs);
  return {
    ...base,
    url,
    cluster,
    keyPrefix,
    commandTimeoutMs,
    connectTimeoutMs,
    maxReconnectDelayMs,
    metaTtlMs: base.maxAgeMs * 2,
  };
}
