import type { Entry } from '@tributary/engine';
import type { HubTarget, RestrictedFrame } from './hub.js';

/** Where a subscription's frames go. */
export interface FrameSink {
  /** Writes a `message` frame's WebSocket wire bytes (it may wait for the write-coalescing window). */
  sendMessage(wire: Buffer): void;
  /** Live messages waiting for a replay to end passed the bound: the reader is too slow for the channel. */
  overflow(): void;
  /** True when the receiver may read `channel` (a lineage's parent): it then gets the lineage. */
  mayRead(channel: string): boolean;
}

/**
 * One session's subscription to one channel or pattern. It starts buffering (while history is
 * replayed) and switches to live; for exact channels it remembers the last (epoch, offset) written,
 * so an entry seen both in the replay and live is written once, and never out of order.
 */
export class Subscription implements HubTarget {
  readonly key: string;
  readonly pattern: boolean;
  readonly presence: boolean;
  #sink: FrameSink;
  #buffer: Array<[Entry, Buffer]> | undefined = [];
  #buffered = 0;
  readonly #maxBuffered: number;
  #epoch = '';
  #last = 0;

  /** `maxBuffered`: bytes of live messages kept while a replay runs (the queue bound). */
  constructor(key: string, pattern: boolean, presence: boolean, sink: FrameSink, maxBuffered = Number.POSITIVE_INFINITY) {
    this.key = key;
    this.pattern = pattern;
    this.presence = presence;
    this.#sink = sink;
    this.#maxBuffered = maxBuffered;
  }

  push(entry: Entry, full: Buffer, restricted?: RestrictedFrame): void {
    // Grants as they are when the message arrives (a buffered one keeps that choice).
    const frame = restricted === undefined || this.#sink.mayRead(restricted.parent) ? full : restricted.frame;
    if (this.#buffer === undefined) {
      this.#deliver(entry, frame);
      return;
    }
    this.#buffered += frame.length;
    // A replay paced by a reader slower than the channel's live rate would buffer without end.
    if (this.#buffered > this.#maxBuffered) {
      this.#buffer = [];
      this.#buffered = Number.NEGATIVE_INFINITY;
      this.#sink.overflow();
      return;
    }
    this.#buffer.push([entry, frame]);
  }

  /** Sets the position after which entries are new to the client. */
  startAfter(epoch: string, offset: number): void {
    this.#epoch = epoch;
    this.#last = offset;
  }

  /** Writes a replayed entry (encoded by the caller, see `encodeFrames`). */
  replay(entry: Entry, full: Buffer, restricted?: RestrictedFrame): void {
    this.#deliver(entry, restricted === undefined || this.#sink.mayRead(restricted.parent) ? full : restricted.frame);
  }

  /** Flushes what arrived during the replay and goes live. */
  goLive(): void {
    const buffered = this.#buffer ?? [];
    this.#buffer = undefined;
    for (const [entry, frame] of buffered) this.#deliver(entry, frame);
  }

  #deliver(entry: Entry, frame: Buffer): void {
    if (!this.pattern) {
      // Same epoch and not newer: already written (replay/live overlap) — skip. A different epoch
      // means the history was reset: its entries are new whatever their offsets.
      if (entry.epoch === this.#epoch && entry.offset <= this.#last) return;
      this.#epoch = entry.epoch;
      this.#last = entry.offset;
    }
    this.#sink.sendMessage(frame);
  }
}
