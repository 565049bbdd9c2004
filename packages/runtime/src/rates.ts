/** One sample of a cumulative counter. */
interface Point {
  at: number;
  value: number;
}

/**
 * Per-second rates of cumulative counters over a sliding window, for the topology. The counters are
 * sampled on a timer (see {@link RateWindow.sample}) rather than kept per event in buckets: a
 * block's invocations are already counted by its stats, and a sample per key per second costs the
 * same whatever the traffic.
 */
export class RateWindow {
  readonly #windowMs: number;
  /** Samples of each key, oldest first; the first is at or before the window's start once it is that old. */
  readonly #series = new Map<string, Point[]>();

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  /**
   * Starts a key at `value` as of `at` (its creation: a block's deploy, a channel's first write), so
   * its first events show as a rate at once rather than after the next sample. No-op for a known key.
   */
  start(key: string, at: number, value = 0): void {
    if (!this.#series.has(key)) this.#series.set(key, [{ at, value }]);
  }

  /** Records the counters' current values; drops samples the window no longer needs. */
  sample(now: number, values: ReadonlyMap<string, number>): void {
    const from = now - this.#windowMs;
    for (const [key, value] of values) {
      const points = this.#series.get(key);
      if (points === undefined) {
        this.#series.set(key, [{ at: now, value }]);
        continue;
      }
      points.push({ at: now, value });
      // Keep one point at or before the window's start, so the rate spans the whole window.
      while (points.length > 1 && (points[1] as Point).at <= from) points.shift();
    }
  }

  /**
   * Events per second of `key` over the window: what it counted since its oldest sample in the
   * window (or since it started, when younger) up to `current`, divided by the whole window — as
   * the console's channel table counts, so a burst of 5 reads 0.5/s over 10 s on both, and a key
   * younger than the window under-reads rather than jumps. A counter that went down restarts from 0.
   */
  rate(key: string, current: number): number {
    const first = this.#series.get(key)?.[0];
    if (first === undefined) return 0;
    const delta = current >= first.value ? current - first.value : current;
    return delta / (this.#windowMs / 1000);
  }

  /** Forgets keys no longer counted. */
  retain(keep: (key: string) => boolean): void {
    for (const key of this.#series.keys()) if (!keep(key)) this.#series.delete(key);
  }
}
