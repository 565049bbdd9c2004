import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisNode, ResolvedRedisEngineOptions } from './options.js';
import { APPEND_LUA, GROUP_LUA, GROUP_REGISTRY_LUA, INCR_LUA, NOTIFY_LUA, PRESENCE_LUA, READ_LUA, RESET_LUA } from './scripts.js';
import { closedError, deadline, toEngineError } from './errors.js';
import { unavailable } from '../options.js';

type Arg = string | number;

/** The scripts as commands; ioredis sends EVALSHA (EVAL on a connection's first use). */
export interface ScriptCommands {
  /** Arguments start with the number of keys (one dedup key per entry). */
  tribAppend(...args: Arg[]): Promise<Array<[string, string, string, number] | ['!', string]>>;
  tribRead(...args: Arg[]): Promise<[string, string, string, RawEntry[]]>;
  tribReset(...args: Arg[]): Promise<string>;
  tribPresence(...args: Arg[]): Promise<number | string[]>;
  tribIncr(...args: Arg[]): Promise<number>;
  tribNotify(...args: Arg[]): Promise<number>;
  tribGroupRegistry(...args: Arg[]): Promise<string | null>;
  tribGroup(...args: Arg[]): Promise<GroupReply>;
}

/**
 * A {@link GROUP_LUA} reply: `[0]` when the group is not on the channel, else `[1, …]` with the
 * op's results (read: epoch, entries; claim: epoch, entries, deliveries; pending/ack: a count).
 */
export type GroupReply = [0] | [1, ...unknown[]];

/** An XRANGE reply item: [id, [field, value, …]]. */
export type RawEntry = [string, string[]];

/** The command connection: a single server or a cluster, with the scripts defined on it. */
export type CommandClient = (Redis | Cluster) & ScriptCommands;

/**
 * Options that keep every command bounded and never replay one behind the caller's back: no offline
 * queue (a command sent while disconnected fails at once instead of running minutes later, after
 * the caller was told UNAVAILABLE), and no automatic resend of commands in flight when the
 * connection dropped. Reconnection itself goes on forever with capped backoff.
 */
function nodeOptions(o: ResolvedRedisEngineOptions): RedisOptions {
  return {
    lazyConnect: true,
    autoResendUnfulfilledCommands: false,
    commandTimeout: o.commandTimeoutMs,
    connectTimeout: o.connectTimeoutMs,
    maxRetriesPerRequest: 0,
    keepAlive: 10_000,
  };
}

/** The reconnect backoff: 100 ms, 200 ms, … capped. */
export function backoff(o: ResolvedRedisEngineOptions): (attempt: number) => number {
  return (attempt) => Math.min(100 * attempt, o.maxReconnectDelayMs);
}

/** Creates the (not yet connected) command client. */
export function createCommandClient(o: ResolvedRedisEngineOptions): CommandClient {
  const client =
    o.cluster !== undefined
      ? new Cluster(o.cluster, {
          lazyConnect: true,
          enableOfflineQueue: false,
          clusterRetryStrategy: backoff(o),
          slotsRefreshTimeout: o.connectTimeoutMs,
          redisOptions: nodeOptions(o),
        })
      : new Redis(o.url, { ...nodeOptions(o), enableOfflineQueue: false, retryStrategy: backoff(o) });
  // Errors reach callers as rejected commands; without a listener ioredis would log each one.
  client.on('error', () => {});
  client.defineCommand('tribAppend', { lua: APPEND_LUA });
  client.defineCommand('tribRead', { numberOfKeys: 2, lua: READ_LUA });
  client.defineCommand('tribReset', { numberOfKeys: 2, lua: RESET_LUA });
  client.defineCommand('tribPresence', { numberOfKeys: 1, lua: PRESENCE_LUA });
  client.defineCommand('tribIncr', { numberOfKeys: 1, lua: INCR_LUA });
  client.defineCommand('tribNotify', { numberOfKeys: 1, lua: NOTIFY_LUA });
  client.defineCommand('tribGroupRegistry', { numberOfKeys: 1, lua: GROUP_REGISTRY_LUA });
  client.defineCommand('tribGroup', { numberOfKeys: 2, lua: GROUP_LUA });
  return client as CommandClient;
}

/** A fresh connection for pub/sub to one node, reconnected by the caller (not by ioredis). */
export function createSubscriberConnection(o: ResolvedRedisEngineOptions, node: RedisNode | undefined): Redis {
  const opts: RedisOptions = {
    ...nodeOptions(o),
    enableOfflineQueue: false,
    autoResubscribe: false,
    retryStrategy: () => null,
  };
  const conn = node === undefined ? new Redis(o.url, opts) : new Redis({ ...opts, host: node.host, port: node.port });
  conn.on('error', () => {});
  return conn;
}

/**
 * Resolves once `client` is ready, starting the first connect if needed; rejects with UNAVAILABLE
 * after `ms`. Waiting here, rather than in ioredis' offline queue, keeps a short blip invisible to
 * callers without ever sending a command after its caller gave up on it.
 */
export async function whenReady(client: Redis | Cluster, ms: number, what: string): Promise<void> {
  if (client.status === 'ready') return;
  if (client.status === 'end') throw closedError(what);
  if (client.status === 'wait') client.connect().catch(() => {});
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('end', onEnd);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onReady = (): void => done();
    const onEnd = (): void => done(closedError(what));
    const timer = setTimeout(() => done(unavailable(`${what}: Redis not reachable within ${ms} ms`)), ms);
    client.on('ready', onReady);
    client.on('end', onEnd);
  });
}

/**
 * Runs `op` once the client is ready, all within `ms`, mapping failures with {@link toEngineError}.
 */
export async function run<T>(client: Redis | Cluster, ms: number, what: string, op: () => Promise<T>): Promise<T> {
  const start = Date.now();
  let sent = false;
  try {
    await whenReady(client, ms, what);
    sent = true;
    const result = await deadline(op(), Math.max(1, ms - (Date.now() - start)), what);
    unanswered.delete(client);
    return result;
  } catch (err) {
    if (sent && isNoAnswer(err)) noAnswer(client);
    throw toEngineError(err, what);
  }
}

/** Commands in a row that a ready connection did not answer in time. */
const unanswered = new WeakMap<Redis | Cluster, number>();
/** After this many, the connection is presumed silently dead and replaced. */
const DEAD_AFTER = 2;

function isNoAnswer(err: unknown): boolean {
  return err instanceof Error && /no answer from Redis within/.test(err.message);
}

/**
 * A connection that stays open but never answers (a NAT or failover that forgot it) would otherwise
 * fail every call until the kernel's keepalive gives up, minutes later. Two unanswered commands in a
 * row on a ready connection drop it; ioredis reconnects through its retry strategy.
 */
function noAnswer(client: Redis | Cluster): void {
  const n = (unanswered.get(client) ?? 0) + 1;
  if (n < DEAD_AFTER || client.status !== 'ready') {
    unanswered.set(client, n);
    return;
  }
  unanswered.delete(client);
  client.disconnect(true);
}
