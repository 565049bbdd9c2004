import type { Entry } from '@tributary/engine';
import type { HubTarget } from './hub.js';

/** Where a subscription's frames go. */
export interface FrameSink {
  /** Writes a `message` frame's WebSocket wire bytes (it may wait for the write-coalescing window). */
  sendMessage(wire: Buffer): void;
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
  #epoch = '';
  #last = 0;

  constructor(key: string, pattern: boolean, presence: boolean, sink: FrameSink) {
    this.key = key;
    this.pattern = pattern;
    this.presence = presence;
    this.#sink = sink;
  }

  push(entry: Entry, frame: Buffer): void {
    if (this.#buffer !== undefined) this.#buffer.push([entry, frame]);
    else this.#deliver(entry, frame);
  }

  /** Sets the position after which entries are new to the client. */
  startAfter(epoch: string, offset: number): void {
    this.#epoch = epoch;
    this.#last = offset;
  }

  /** Writes a replayed entry (encoded by the caller). */
  replay(entry: Entry, frame: Buffer): void {
    this.#deliver(entry, frame);
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
