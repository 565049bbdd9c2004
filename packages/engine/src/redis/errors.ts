import { ErrorCodes, TributaryError } from '@tributary/protocol';
import { unavailable } from '../options.js';

/**
 * Redis replies that mean "the store cannot serve right now" rather than "our request is wrong":
 * a node loading its dataset, a cluster without a quorum or mid-resharding, a replica promoted.
 */
const TRANSIENT_REPLY = /^(LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|BUSY|NOREPLICAS)\b/;

/**
 * The one place where ioredis and Redis errors become engine errors. Connection problems (refused,
 * closed, timed out, cluster not ready) are UNAVAILABLE: the caller may retry, and with a `msgId`
 * a retried append is stored once even if the first attempt did reach Redis. A Redis reply error is
 * a bug in a script or a command (INTERNAL), except a counter over a non-integer value, which is the
 * caller's mistake and a TypeError as in the memory engine.
 */
export function toEngineError(err: unknown, what: string): Error {
  if (err instanceof TributaryError || err instanceof TypeError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const isReply = err instanceof Error && err.name === 'ReplyError';
  if (isReply) {
    if (/not an integer/.test(message)) return new TypeError(`${what}: the key does not hold an integer`);
    if (TRANSIENT_REPLY.test(message)) return unavailable(`${what}: Redis is not serving (${message})`, err);
    return new TributaryError(ErrorCodes.INTERNAL, `${what}: Redis replied ${message}`, { cause: err });
  }
  return unavailable(`${what}: Redis unreachable (${message})`, err);
}

/** The error for calls made after {@link RedisEngine.close}. */
export function closedError(what: string): TributaryError {
  return new TributaryError(ErrorCodes.CLOSED, `${what}: the engine is closed`);
}

/**
 * Rejects with UNAVAILABLE when `promise` has not settled within `ms`. ioredis' own command
 * timeout covers a single node; this bounds the whole operation (cluster redirections and retries
 * included), so a publish never hangs.
 */
export async function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(unavailable(`${what}: no answer from Redis within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
