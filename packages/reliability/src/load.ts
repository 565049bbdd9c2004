import { isTributaryError, TributaryClient, type ClientOptions } from '@tributary/client';
import type { Acked } from './ledger.js';
import { sleep } from './ledger.js';

/** A client with fast reconnects, the `ws` constructor, and a short request timeout. */
export function testClient(url: string | string[], options: Partial<ClientOptions> = {}): TributaryClient {
  return new TributaryClient({
    url,
    reconnect: { minDelayMs: 20, maxDelayMs: 300, factor: 2 },
    requestTimeoutMs: 8000,
    pingIntervalMs: 2000,
    ...options,
  });
}

/** A publisher that sends `{p, seq}` for seq = 1..count in order, each retried until acknowledged. */
export interface Publishing {
  readonly acked: Acked[];
  /** Errors per code (each was retried with the same msgId). */
  readonly errors: Map<string, number>;
  /** Resolves when every sequence number was acknowledged (or `stop()` was called). */
  readonly done: Promise<void>;
  stop(): void;
}

/**
 * Publishes in order: seq n+1 is sent only after seq n was acknowledged. A failed publish (typed
 * error: UNAVAILABLE while Redis is down, TIMEOUT, CLOSED) is retried with the same msgId, so it is
 * stored at most once; an untyped error fails the run.
 */
export function publishSequence(client: TributaryClient, channel: string, p: string, count: number, pauseMs = 0): Publishing {
  const acked: Acked[] = [];
  const errors = new Map<string, number>();
  let stopped = false;
  const done = (async () => {
    for (let seq = 1; seq <= count && !stopped; seq++) {
      for (;;) {
        if (stopped) return;
        try {
          const a = await client.publish(channel, { p, seq }, { msgId: `${p}:${seq}` });
          acked.push({ offset: a.offset, epoch: a.epoch, p, seq });
          break;
        } catch (err) {
          if (!isTributaryError(err)) throw err;
          errors.set(err.code, (errors.get(err.code) ?? 0) + 1);
          await sleep(50);
        }
      }
      if (pauseMs > 0) await sleep(pauseMs);
    }
  })();
  return { acked, errors, done, stop: () => void (stopped = true) };
}
