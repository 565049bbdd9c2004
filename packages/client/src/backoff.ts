import {
  DEFAULT_RECONNECT_FACTOR,
  DEFAULT_RECONNECT_MAX_DELAY_MS,
  DEFAULT_RECONNECT_MIN_DELAY_MS,
  type ReconnectOptions,
} from './options.js';

/**
 * Delay before retry `attempt` (0-based): uniform in `[0, min(max, min × factor^attempt)]`.
 * "Full jitter" spreads a crowd of clients that lost the same broker over the whole window.
 */
export function backoffDelay(attempt: number, options: Required<ReconnectOptions>, random: () => number = Math.random): number {
  // Cap the exponent so factor^attempt never overflows to Infinity on a long outage.
  const bound = Math.min(options.maxDelayMs, options.minDelayMs * options.factor ** Math.min(attempt, 64));
  return Math.floor(random() * bound);
}

/** The default backoff, for retries that back off even when reconnecting is turned off. */
export function defaultReconnect(): Required<ReconnectOptions> {
  return { minDelayMs: DEFAULT_RECONNECT_MIN_DELAY_MS, maxDelayMs: DEFAULT_RECONNECT_MAX_DELAY_MS, factor: DEFAULT_RECONNECT_FACTOR };
}

/** The reconnect loop's wait between attempts, cut short when close() or connect() wakes it. */
export class Sleeper {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #wake: (() => void) | undefined;

  /** Waits `ms`, or less when woken. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#wake = undefined;
        resolve();
      };
      this.#wake = done;
      this.#timer = setTimeout(done, ms);
    });
  }

  /** Ends the current wait now, if there is one. */
  wake(): void {
    this.#wake?.();
  }
}
