import { ErrorCodes, TributaryError } from '@tributary/protocol';
import { closedError } from './errors.js';
import { unavailable } from '../options.js';
import type { AppendInput, AppendResult } from '../types.js';

/** Entries per batch: bounds one script's run time (Redis serves nobody else meanwhile). */
export const MAX_BATCH_ENTRIES = 64;
/** Payload characters per batch (a batch always holds at least one entry, however large). */
export const MAX_BATCH_CHARS = 512 * 1024;

/**
 * Sends one batch (all on one channel, in order) and returns one result, or error, per entry.
 * `written` is called the moment the command is handed to the connection: commands on one
 * connection execute in the order they were written, so an append written after another is stored
 * after it (what orders one key's appends across channels; see {@link Appender}).
 */
export type SendBatch = (channel: string, batch: readonly AppendInput[], written: () => void) => Promise<Array<AppendResult | Error>>;

interface Waiting {
  input: AppendInput;
  /** Date.now() when queued. */
  at: number;
  resolve(result: AppendResult): void;
  reject(err: unknown): void;
  /** Handed to the connection (or settled): nothing behind it waits for it any more. */
  written: boolean;
  /** The append of the same order key issued next, while this one was not yet written. */
  next?: Waiting;
  /** On another channel than its predecessor of the same key, which is not yet written: held until it is. */
  held: boolean;
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
 *
 * Across channels, appends that share an `orderKey` (one client connection's) are stored in the
 * order they were issued too, without waiting for each other to be stored: an append is written to
 * the connection only after the one issued before it under its key was written, and one connection
 * executes commands in the order written. So a client alternating channels gets its publishes
 * pipelined, one round trip for many, and its order kept. When an append fails before it was
 * written, the appends of its key issued after it fail with it, unwritten: storing them would put
 * them before the caller's retry of the failed one.
 */
export class Appender {
  readonly #send: SendBatch;
  readonly #timeoutMs: number;
  readonly #lanes = new Map<string, Lane>();
  /** Per order key, its latest append not yet written. */
  readonly #tails = new Map<string, Waiting>();
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
      const w: Waiting = { input, at: Date.now(), resolve, reject, written: false, held: false };
      const key = input.orderKey;
      if (key !== undefined) {
        const prev = this.#tails.get(key);
        if (prev !== undefined) {
          prev.next = w;
          // Behind its predecessor in the same lane, lane order keeps it after; elsewhere it waits.
          w.held = prev.input.channel !== channel;
        }
        this.#tails.set(key, w);
      }
      lane.waiting.push(w);
      if (lane.busy || w.held) return;
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
    this.#tails.clear();
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
      // What is left is held behind other channels' appends; their writes send it.
      if (lane.waiting.length === 0) this.#lanes.delete(channel);
      return;
    }
    lane.busy = true;
    let written = false;
    this.#send(
      channel,
      batch.map((w) => w.input),
      () => {
        if (written) return;
        written = true;
        for (const w of batch) this.#written(w);
      },
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
        // Failed unwritten (Redis not reachable): what the callers issued after these must not be
        // stored before their retries.
        for (const w of batch) {
          if (written) w.reject(err);
          else this.#fail(w, err);
        }
        // Redis did not answer: the appends queued behind this batch have waited as long, and their
        // callers must retry anyway (with a msgId a retry is stored once). Failing them now keeps
        // every append settled within one command timeout.
        if (err instanceof TributaryError && err.code === ErrorCodes.UNAVAILABLE) {
          for (const w of lane.waiting.splice(0)) this.#fail(w, err);
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
    for (const w of lane.waiting.splice(0, n)) this.#fail(w, err);
  }

  /** `w` is on the connection: the next append of its key may follow it. */
  #written(w: Waiting): void {
    w.written = true;
    const key = w.input.orderKey;
    if (key !== undefined && this.#tails.get(key) === w) this.#tails.delete(key);
    const next = w.next;
    w.next = undefined;
    if (next === undefined || !next.held) return;
    next.held = false;
    // Already behind `w` on the connection: sending it now keeps the order and saves a turn.
    const lane = this.#lanes.get(next.input.channel);
    if (lane !== undefined && !lane.busy) this.#sendNext(next.input.channel, lane);
  }

  /**
   * Fails `w`, unwritten, and every append of its key issued after it (each still unwritten: it was
   * held behind `w`, or queued behind a held one in its lane).
   */
  #fail(w: Waiting, err: unknown): void {
    w.reject(err);
    w.written = true;
    const key = w.input.orderKey;
    if (key !== undefined && this.#tails.get(key) === w) this.#tails.delete(key);
    const next = w.next;
    w.next = undefined;
    if (next === undefined || next.written) return;
    const lane = this.#lanes.get(next.input.channel);
    const at = lane?.waiting.indexOf(next) ?? -1;
    if (at !== -1) lane?.waiting.splice(at, 1);
    this.#fail(next, err);
  }

  #settled(channel: string, lane: Lane): void {
    lane.busy = false;
    if (this.#closed) return;
    // What queued while the batch was at Redis has waited already: send it now.
    this.#sendNext(channel, lane);
  }
}

/**
 * Takes the next batch from `waiting`, oldest first, within the entry and size limits. An append
 * held behind another channel's stays, and so do the later ones of its order key (they must follow
 * it); appends of other keys go past them: nothing orders different connections' publishes.
 */
function take(waiting: Waiting[]): Waiting[] {
  const batch: Waiting[] = [];
  let blocked: Set<string> | undefined;
  let chars = 0;
  let kept = 0;
  for (let i = 0; i < waiting.length; i++) {
    const w = waiting[i] as Waiting;
    const key = w.input.orderKey;
    const stays = w.held || (key !== undefined && blocked?.has(key) === true);
    if (!stays && batch.length < MAX_BATCH_ENTRIES) {
      chars += w.input.payload.length;
      if (batch.length === 0 || chars <= MAX_BATCH_CHARS) {
        batch.push(w);
        continue;
      }
    }
    if (stays && key !== undefined) (blocked ??= new Set()).add(key);
    // Full: the rest waits for the next batch, in order.
    if (!stays && batch.length > 0) {
      waiting.copyWithin(kept, i);
      waiting.length = kept + waiting.length - i;
      return batch;
    }
    waiting[kept++] = w;
  }
  waiting.length = kept;
  return batch;
}
