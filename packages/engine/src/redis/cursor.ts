import type { Entry, ReadResult } from '../types.js';

/** Reads a channel's log after an offset (one page). */
export type ReadAfter = (after: number) => Promise<ReadResult>;

/** Pause before retrying a failed gap read; a reconnect of the subscriber triggers one as well. */
const RETRY_MS = 250;
/** How many epochs we moved away from are remembered, to drop their late notifications. */
const RETIRED_KEPT = 16;

/**
 * Turns a channel's notifications, which may be lost (a dropped connection) or stale (published just
 * before a reset we already read past), into ordered delivery without gaps or duplicates. It keeps
 * the last delivered (epoch, offset): the next offset is delivered at once; an older one is dropped;
 * a jump is filled by reading the log, while later notifications wait in order. The log decides
 * epoch questions: a notification from an unknown epoch triggers a read, and only if the log agrees
 * does delivery move to it (offsets from 1), so a late notification can never send us back.
 */
export class Cursor {
  readonly #read: ReadAfter;
  readonly #deliver: (entry: Entry) => void;
  #epoch: string | undefined;
  #last = 0;
  /** True while starting or reading the log; notifications queue up meanwhile. */
  #busy = true;
  #resyncWanted = false;
  #pending: Entry[] = [];
  #retired: string[] = [];
  #closed = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(read: ReadAfter, deliver: (entry: Entry) => void) {
    this.#read = read;
    this.#deliver = deliver;
  }

  /** Starts delivering entries after `last` in `epoch` (a channel follow's starting point). */
  start(epoch: string, last: number): void {
    this.#epoch = epoch;
    this.#last = last;
    this.#settle();
  }

  /** Starts at whatever notification comes first (pattern follows: "from the first entry seen"). */
  startAtFirstSeen(): void {
    this.#settle();
  }

  /** A notification from the wire. */
  push(entry: Entry): void {
    if (this.#closed) return;
    if (this.#busy) this.#pending.push(entry);
    else this.#process(entry);
  }

  /** Catch up from the log: notifications may have been missed (the subscriber reconnected). */
  resync(): void {
    if (this.#closed || this.#epoch === undefined) return;
    if (this.#busy) this.#resyncWanted = true;
    else void this.#fill(Infinity, undefined);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#pending = [];
  }

  #process(entry: Entry): void {
    if (this.#epoch === undefined) {
      this.#epoch = entry.epoch;
      this.#last = entry.offset - 1;
    }
    if (entry.epoch !== this.#epoch) {
      if (!this.#retired.includes(entry.epoch)) void this.#fill(Infinity, entry.epoch);
      return;
    }
    if (entry.offset <= this.#last) return;
    if (entry.offset === this.#last + 1) {
      this.#last = entry.offset;
      this.#deliver(entry);
      return;
    }
    void this.#fill(entry.offset, undefined);
  }

  /** Reads the log from the last delivered offset up to `target` (or the end). */
  async #fill(target: number, probe: string | undefined): Promise<void> {
    this.#busy = true;
    try {
      for (;;) {
        const r = await this.#read(this.#last);
        if (this.#closed) return;
        if (r.epoch !== this.#epoch) {
          // The log moved to a new epoch: everything in it is new to us, from offset 1.
          if (this.#epoch !== undefined) this.#retire(this.#epoch);
          this.#epoch = r.epoch;
          this.#last = 0;
          continue;
        }
        for (const e of r.entries) {
          if (e.offset <= this.#last) continue;
          this.#last = e.offset;
          this.#deliver(e);
        }
        if (r.entries.length === 0 || this.#last >= r.last || this.#last >= target) break;
      }
      if (probe !== undefined && probe !== this.#epoch) this.#retire(probe);
    } catch {
      // The store is unreachable: keep queueing and try again.
      if (!this.#closed) this.#timer = setTimeout(() => void this.#fill(target, probe), RETRY_MS);
      return;
    }
    this.#settle();
  }

  #settle(): void {
    this.#busy = false;
    if (this.#resyncWanted && this.#epoch !== undefined) {
      this.#resyncWanted = false;
      void this.#fill(Infinity, undefined);
      return;
    }
    while (!this.#busy && !this.#closed && this.#pending.length > 0) this.#process(this.#pending.shift() as Entry);
  }

  #retire(epoch: string): void {
    this.#retired.push(epoch);
    if (this.#retired.length > RETIRED_KEPT) this.#retired.shift();
  }
}
