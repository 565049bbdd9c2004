import type { ReconnectOptions } from './options.js';

/**
 * Delay before retry `attempt` (0-based): uniform in `[0, min(max, min × factor^attempt)]`.
 * "Full jitter" spreads a crowd of clients that lost the same broker over the whole window.
 */
export function backoffDelay(
  attempt: number,
  options: Required<ReconnectOptions>,
  random: () => number = Math.random,
): number {
  // Cap the exponent so factor^attempt never overflows to Infinity on a long outage.
  const bound = Math.min(options.maxDelayMs, options.minDelayMs * options.factor ** Math.min(attempt, 64));
  return Math.floor(random() * bound);
}
