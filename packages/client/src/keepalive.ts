import { ErrorCodes, isTributaryError } from '@tributary/protocol/wire';
import { CLOSE_ABNORMAL, type Connection } from './connection.js';

/**
 * Pings the broker every `intervalMs` on the current connection and drops that connection when a
 * pong does not come in time. `0` turns pings off.
 */
export class Keepalive {
  readonly #intervalMs: number;
  /** Sends one ping; rejects with `TIMEOUT` when no pong came within `requestTimeoutMs`. */
  readonly #ping: () => Promise<unknown>;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(intervalMs: number, ping: () => Promise<unknown>) {
    this.#intervalMs = intervalMs;
    this.#ping = ping;
  }

  /** Starts pinging `conn`, for as long as `isCurrent()` says it is the client's connection. */
  start(conn: Connection, isCurrent: () => boolean): void {
    const interval = this.#intervalMs;
    if (interval === 0) return;
    const tick = (): void => {
      this.#timer = undefined;
      if (!isCurrent()) return;
      this.#ping().then(
        () => {
          if (isCurrent()) this.#timer = setTimeout(tick, interval);
        },
        (err: unknown) => {
          // No pong in time: the network is gone even if the socket has not noticed yet.
          if (isCurrent() && isTributaryError(err, ErrorCodes.TIMEOUT)) conn.abandon(CLOSE_ABNORMAL, 'ping timeout');
        },
      );
    };
    this.#timer = setTimeout(tick, interval);
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
