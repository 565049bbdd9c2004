import { ErrorCodes, TributaryError } from '@tributary/protocol';
import { closedError } from './errors.js';
import { unavailable } from '../options.js';
import type { AppendInput, AppendResult } from '../types.js';

/** Entries per batch: bounds one script's run time (Redis serves nobody else meanwhile). */
export const MAX_BATCH_ENTRIES = 64;
/** Payload characters per batch (a batch always holds at least one entry, however large). */
export const MAX_BATCH_CHARS = 512 * 1024;

/** Sends one batch (all on one channel, in order) and returns one result, or error, per entry. */
export type SendBatch = (channel: string, batch: readonly AppendInput[]) => Promise<Array<AppendResult | Error>>;

interface Waiting {
  input: AppendInput;
  /** Date.now() when queued. */
  at: number;
  resolve(result: AppendResult): void;
  reject(err: unknown): void;
}

interface Lane {
  waiting: Waiting[];
  /** A batch of this channel is at Redis. */
  busy: boolean;
}

/**
 * Group commit for appends, per channel: at most one append script per channel is at Redis at a
 * time; appends that arrive meanwhile (or in the same event-loop turn) go together in the next one.
 *
 * Why: every stored message is fanned out to its subscribers' sockets, one system call per socket
 * per write. A script that stores k messages of a channel publishes k notifications that reach every
 * node in one read, so each node writes them to each socket in one system call instead of k. Idle,
 * nothing waits (a lone append is sent after the current turn); busy, batches grow by themselves,
 * so Redis calls and socket writes per message fall exactly when load rises. Per-channel order
 * of this engine's appends is the order of the calls.
 */
export class Appender {
  readonly #send: SendBatch;
  readonly #timeoutMs: number;
  readonly #lanes = new Map<string, Lane>();
  /** Channels with waiting appends and no batch in flight, sent after this turn. */
  readonly #due = new Set<string>();
  #closed = false;

  /** `timeoutMs`: how long an append may wait behind earlier batches before it fails UNAVAILABLE. */
  constructor(send: SendBatch, timeoutMs: number) {
    this.#send = send;
    this.#timeoutMs = timeoutMs;
  }

  append(input: AppendInput): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(closedError('append'));
    return new Promise((resolve, reject) => {
      const channel = input.channel;
      let lane = this.#lanes.get(channel);
      if (lane === undefined) this.#lanes.set(channel, (lane = { waiting: [], busy: false }));
      lane.waiting.push({ input, at: Date.now(), resolve, reject });
      if (lane.busy) return;
      // Sent after this turn, not now: the other publishes a socket read delivered in this turn join it.
      if (this.#due.size === 0) setImmediate(() => this.#flushDue());
      this.#due.add(channel);
    });
  }

  /** Rejects every append not yet sent; those at Redis settle with their command. */
  close(): void {
    this.#closed = true;
    this.#due.clear();
    for (const lane of this.#lanes.values()) for (const w of lane.waiting.splice(0)) w.reject(closedError('append'));
    this.#lanes.clear();
  }

  #flushDue(): void {
    const channels = [...this.#due];
    this.#due.clear();
    for (const channel of channels) {
      const lane = this.#lanes.get(channel);
      if (lane !== undefined && !lane.busy) this.#sendNext(channel, lane);
    }
  }

  #sendNext(channel: string, lane: Lane): void {
    this.#expire(lane);
    const batch = take(lane.waiting);
    if (batch.length === 0) {
      this.#lanes.delete(channel);
      return;
    }
    lane.busy = true;
    this.#send(
      channel,
      batch.map((w) => w.input),
    ).then(
      (results) => {
        batch.forEach((w, i) => {
          const r = results[i];
          if (r === undefined)
            w.reject(
              new TributaryError(ErrorCodes.INTERNAL, `append: Redis returned ${results.length} results for ${batch.length} entries`),
            );
          else if (r instanceof Error) w.reject(r);
          else w.resolve(r);
        });
        this.#settled(channel, lane);
      },
      (err: unknown) => {
        for (const w of batch) w.reject(err);
        // Redis did not answer: the appends queued behind this batch have waited as long, and their
        // callers must retry anyway (with a msgId a retry is stored once). Failing them now keeps
        // every append settled within one command timeout.
        if (err instanceof TributaryError && err.code === ErrorCodes.UNAVAILABLE) {
          for (const w of lane.waiting.splice(0)) w.reject(err);
        }
        this.#settled(channel, lane);
      },
    );
  }

  /**
   * Fails appends that waited a whole command timeout behind earlier batches (Redis is slow but
   * answering): each append settles within about one timeout of its call, and a queue cannot grow
   * without bound while Redis lags.
   */
  #expire(lane: Lane): void {
    const now = Date.now();
    let n = 0;
    while (n < lane.waiting.length && now - (lane.waiting[n] as Waiting).at >= this.#timeoutMs) n++;
    if (n === 0) return;
    const err = unavailable(`append: waited ${this.#timeoutMs} ms behind earlier appends to the same channel`);
    for (const w of lane.waiting.splice(0, n)) w.reject(err);
  }

  #settled(channel: string, lane: Lane): void {
    lane.busy = false;
    if (this.#closed) return;
    // What queued while the batch was at Redis has waited already: send it now.
    this.#sendNext(channel, lane);
  }
}

/** Takes the next batch off the front of `waiting`, within the entry and size limits. */
function take(waiting: Waiting[]): Waiting[] {
  let n = 0;
  let chars = 0;
  while (n < waiting.length && n < MAX_BATCH_ENTRIES) {
    chars += (waiting[n] as Waiting).input.payload.length;
    if (n > 0 && chars > MAX_BATCH_CHARS) break;
    n++;
  }
  return waiting.splice(0, n);
}
