import type { LogBudget } from './limits.js';

/**
 * One block's log budget per second on one runner, across its invocations and concurrency lanes: a
 * block whose every invocation stays within its per-invocation limits can still log at thousands of
 * invocations a second. Lines over the budget are dropped; when the second they were dropped in
 * ends, `report` is told how many, once, to write one "N log lines dropped" line itself.
 */
export class LogRate {
  readonly #budget: LogBudget;
  readonly #report: (dropped: number, hops: number) => void;
  #windowStart = 0;
  #lines = 0;
  #chars = 0;
  #dropped = 0;
  /** Highest hop count among the dropped lines: the report carries it, as they would have. */
  #hops = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(budget: LogBudget, report: (dropped: number, hops: number) => void) {
    this.#budget = budget;
    this.#report = report;
  }

  /**
   * Counts a line of `chars` characters against this second's budget. False: it does not fit, and
   * (unless `countDrop` is false) is counted as dropped.
   */
  admit(chars: number, hops: number, countDrop = true): boolean {
    this.#roll();
    if (this.#lines + 1 > this.#budget.linesPerSecond || this.#chars + chars > this.#budget.charsPerSecond) {
      if (countDrop) this.drop(1, hops);
      return false;
    }
    this.#lines++;
    this.#chars += chars;
    return true;
  }

  /** Adds `n` lines dropped elsewhere to this second's report (a summary line that did not fit). */
  drop(n: number, hops: number): void {
    this.#roll();
    this.#dropped += n;
    this.#hops = Math.max(this.#hops, hops);
    this.#timer ??= setTimeout(() => this.#flush(), Math.max(1, this.#windowStart + 1000 - Date.now())).unref();
  }

  /** Stops the pending report (the block is gone). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #roll(): void {
    const now = Date.now();
    if (now - this.#windowStart < 1000) return;
    if (this.#dropped > 0) this.#flush();
    this.#windowStart = now;
    this.#lines = 0;
    this.#chars = 0;
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const n = this.#dropped;
    const hops = this.#hops;
    this.#dropped = 0;
    this.#hops = 0;
    if (n > 0) this.#report(n, hops);
  }
}
