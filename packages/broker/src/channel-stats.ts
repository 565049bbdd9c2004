/** How many channels {@link ChannelStats} remembers by default (least recently published dropped first). */
export const DEFAULT_MAX_TRACKED_CHANNELS = 1000;
/** The window, in seconds, that {@link ChannelStats} averages message rates over. */
export const RATE_WINDOW_SECONDS = 10;

/** One channel as {@link ChannelStats} saw it on this node. */
export interface ChannelActivity {
  channel: string;
  /** Messages stored through this node per second, averaged over the last {@link RATE_WINDOW_SECONDS} s. */
  ratePerSec: number;
  /** Messages stored through this node since it started tracking the channel. */
  published: number;
  /** The latest offset and epoch stored through this node. */
  lastOffset: number;
  epoch: string;
  /** When that message was stored (ms since the Unix epoch). */
  lastTime: number;
}

interface Tracked {
  buckets: Uint32Array;
  /** The whole second (Unix) of the newest bucket. */
  second: number;
  published: number;
  lastOffset: number;
  epoch: string;
  lastTime: number;
}

/**
 * Per-channel message rates of the messages stored through this node (for the admin API and the
 * console). Channel names are unbounded user input, so at most `max` channels are remembered: the
 * least recently published one is forgotten first (a Map keeps insertion order, and every publish
 * re-inserts its channel). Each channel costs one small ring of one-second buckets.
 */
export class ChannelStats {
  readonly #max: number;
  readonly #now: () => number;
  readonly #channels = new Map<string, Tracked>();

  constructor(max = DEFAULT_MAX_TRACKED_CHANNELS, now: () => number = Date.now) {
    if (!Number.isSafeInteger(max) || max <= 0) throw new TypeError(`max must be a positive integer, got ${max}`);
    this.#max = max;
    this.#now = now;
  }

  /** Channels remembered now. */
  get size(): number {
    return this.#channels.size;
  }

  /** Counts one message stored on `channel`. */
  record(channel: string, offset: number, epoch: string, time: number): void {
    let t = this.#channels.get(channel);
    const second = Math.floor(this.#now() / 1000);
    if (t === undefined) {
      t = { buckets: new Uint32Array(RATE_WINDOW_SECONDS), second, published: 0, lastOffset: 0, epoch, lastTime: 0 };
      if (this.#channels.size >= this.#max) {
        const oldest = this.#channels.keys().next();
        if (oldest.done !== true) this.#channels.delete(oldest.value);
      }
    } else {
      this.#channels.delete(channel);
    }
    this.#channels.set(channel, t);
    advance(t, second);
    t.buckets[second % RATE_WINDOW_SECONDS] = (t.buckets[second % RATE_WINDOW_SECONDS] ?? 0) + 1;
    t.published++;
    t.lastOffset = offset;
    t.epoch = epoch;
    t.lastTime = time;
  }

  /** What is known of `channel`, or undefined when it was not published through this node lately. */
  get(channel: string): ChannelActivity | undefined {
    const t = this.#channels.get(channel);
    return t === undefined ? undefined : this.#describe(channel, t);
  }

  /** Every remembered channel, most recently published first. */
  list(): ChannelActivity[] {
    return [...this.#channels].reverse().map(([channel, t]) => this.#describe(channel, t));
  }

  #describe(channel: string, t: Tracked): ChannelActivity {
    advance(t, Math.floor(this.#now() / 1000));
    let sum = 0;
    for (const n of t.buckets) sum += n;
    return {
      channel,
      ratePerSec: sum / RATE_WINDOW_SECONDS,
      published: t.published,
      lastOffset: t.lastOffset,
      epoch: t.epoch,
      lastTime: t.lastTime,
    };
  }
}

/** Zeroes the buckets of the seconds that passed since `t.second`, so old counts leave the window. */
function advance(t: Tracked, second: number): void {
  if (second <= t.second) return;
  const gap = Math.min(second - t.second, RATE_WINDOW_SECONDS);
  for (let i = 1; i <= gap; i++) t.buckets[(t.second + i) % RATE_WINDOW_SECONDS] = 0;
  t.second = second;
}
