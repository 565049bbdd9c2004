/**
 * A latency histogram with logarithmic buckets (1 % wide), so percentiles are within 1 % of the
 * true value whatever the range, in constant memory however many samples arrive.
 */
/** A {@link Histogram}'s samples in a plain, structured-clonable form. */
export interface HistogramData {
  /** [bucket index, samples] of every non-empty bucket. */
  buckets: Array<[number, number]>;
  count: number;
  max: number;
  sum: number;
}

export class Histogram {
  static readonly #GROWTH = 1.01;
  static readonly #LOG = Math.log(Histogram.#GROWTH);
  /** Smallest value told apart, in the unit of `record` (µs here). */
  static readonly #MIN = 1;
  readonly #buckets = new Float64Array(4096);
  #count = 0;
  #max = 0;
  #sum = 0;

  record(value: number): void {
    const v = value < Histogram.#MIN ? Histogram.#MIN : value;
    const i = Math.min(this.#buckets.length - 1, Math.floor(Math.log(v / Histogram.#MIN) / Histogram.#LOG));
    this.#buckets[i] = (this.#buckets[i] ?? 0) + 1;
    this.#count++;
    this.#sum += value;
    if (value > this.#max) this.#max = value;
  }

  /**
   * The non-empty buckets and totals, small enough to post between threads: the shapes benchmark
   * records in each load-generator thread and merges here.
   */
  export(): HistogramData {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < this.#buckets.length; i++) {
      const n = this.#buckets[i] ?? 0;
      if (n > 0) buckets.push([i, n]);
    }
    return { buckets, count: this.#count, max: this.#max, sum: this.#sum };
  }

  /** Adds the samples of an {@link export}ed histogram to this one. */
  merge(data: HistogramData): void {
    for (const [i, n] of data.buckets) this.#buckets[i] = (this.#buckets[i] ?? 0) + n;
    this.#count += data.count;
    this.#sum += data.sum;
    if (data.max > this.#max) this.#max = data.max;
  }

  get count(): number {
    return this.#count;
  }

  get max(): number {
    return this.#max;
  }

  get mean(): number {
    return this.#count === 0 ? NaN : this.#sum / this.#count;
  }

  /** The value below which `p` (0–1) of the samples fall: the upper edge of that bucket. */
  percentile(p: number): number {
    if (this.#count === 0) return NaN;
    const rank = Math.ceil(p * this.#count);
    let seen = 0;
    for (let i = 0; i < this.#buckets.length; i++) {
      seen += this.#buckets[i] ?? 0;
      if (seen >= rank) return Math.min(this.#max, Histogram.#MIN * Histogram.#GROWTH ** (i + 1));
    }
    return this.#max;
  }
}

/** Median of a list of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/**
 * A distribution-free confidence interval for the median of `xs`: the order statistics
 * x(k) and x(n+1−k), with k the largest rank whose binomial tail P(Bin(n, ½) < k) stays within
 * (1 − level) / 2 on each side. It assumes only that the runs are independent draws, which is why the
 * benchmarks pair each run with its own reference instead of pooling them. Undefined when `xs` is
 * too short for the level (fewer than 6 values at 95 %).
 */
export function medianInterval(xs: readonly number[], level = 0.95): { low: number; high: number; level: number } | undefined {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const alpha = (1 - level) / 2;
  // P(Bin(n, ½) ≤ j), accumulated in log space so large n does not overflow.
  let k = 0;
  let cdf = 0;
  let logC = 0; // log C(n, j)
  for (let j = 0; j < n; j++) {
    if (j > 0) logC += Math.log(n - j + 1) - Math.log(j);
    cdf += Math.exp(logC - n * Math.LN2);
    if (cdf > alpha) break;
    k = j + 1;
  }
  if (k === 0) return undefined;
  return { low: s[k - 1] as number, high: s[n - k] as number, level };
}
