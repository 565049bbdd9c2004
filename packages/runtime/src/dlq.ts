import type { Entry, StreamEngine } from '@tributary/engine';
import { channelProblem, ErrorCodes, TributaryError } from '@tributary/protocol';
import type { BlockRunner, ReplayMessage } from './runner.js';

/**
 * What the runner publishes to `$dlq.<block>` when an after-publish message exhausts its retries:
 * the message as a replay takes it (its `hops` kept, so a replay still counts toward the hop
 * limit), and why it failed.
 */
export interface DeadLetterRecord extends ReplayMessage {
  block: string;
  version: string;
  error: { code: string; message: string };
  attempts: number;
  failedAt: number;
}

/** One unresolved entry of a dead-letter channel: its place in `$dlq.<block>` and the record. */
export interface DeadLetter {
  offset: number;
  epoch: string;
  time: number;
  record: DeadLetterRecord;
}

/** The kv namespace of resolution marks: `<block>:<epoch>:<offset>` → `{action, at, version?}`. */
export const DLQ_NAMESPACE = '$dlq';
/** Entries of a dead-letter channel that {@link DeadLetters.list} looks at (the newest). */
export const DLQ_SCAN_LIMIT = 1000;
/** How long a resolution mark is kept: longer than any sane retention of the entry it marks. */
const MARK_TTL_MS = 30 * 24 * 3600_000;
/** A replay holds a lease so two operators clicking at once run the handler once. */
const REPLAY_LEASE_MS = 65_000;

/**
 * The dead-letter channels of blocks, for operators: list what is unresolved, replay an entry
 * through the block's handler, or drop it. Entries are never deleted from `$dlq.<block>` (it is a
 * log like any other, trimmed by retention); resolving one writes a mark to the engine's kv, so
 * every broker node agrees on what is left.
 */
export class DeadLetters {
  readonly #engine: StreamEngine;
  readonly #runner: BlockRunner;

  constructor(engine: StreamEngine, runner: BlockRunner) {
    this.#engine = engine;
    this.#runner = runner;
  }

  /** Unresolved entries among the newest {@link DLQ_SCAN_LIMIT} of `$dlq.<block>`, oldest first. */
  async list(block: string, limit = 100): Promise<{ channel: string; epoch: string; unresolved: number; entries: DeadLetter[] }> {
    const channel = channelOf(block);
    const r = await this.#engine.read(channel, { limit: DLQ_SCAN_LIMIT });
    const valid: DeadLetter[] = [];
    for (const e of r.entries) {
      const dl = this.#deadLetter(block, e);
      if (dl !== undefined) valid.push(dl);
    }
    const marks = await Promise.all(valid.map((d) => this.#engine.kv.get(DLQ_NAMESPACE, markKey(block, d))));
    const open = valid.filter((_, i) => marks[i] === undefined);
    return { channel, epoch: r.epoch, unresolved: open.length, entries: open.slice(0, limit) };
  }

  /**
   * Runs the block's handler once on the entry's original message. On success the entry is marked
   * resolved; on failure the BlockError is thrown and the entry stays.
   */
  async replay(block: string, offset: number): Promise<DeadLetter> {
    const { entry, key } = await this.#open(block, offset);
    const lease = `${key}:replaying`;
    if (!(await this.#engine.kv.claim(DLQ_NAMESPACE, lease, this.#runner.consumer, REPLAY_LEASE_MS))) {
      throw new TributaryError(ErrorCodes.RATE_LIMITED, `a replay of ${block} dead letter ${offset} is already running`);
    }
    try {
      const ran = await this.#runner.replay(block, entry.record);
      if (!ran) throw new TributaryError(ErrorCodes.NOT_FOUND, `no after-publish block ${block} runs on this node`);
      await this.#mark(key, 'replayed');
      return entry;
    } finally {
      await this.#engine.kv.del(DLQ_NAMESPACE, lease).catch(() => false);
    }
  }

  /** Marks the entry resolved without running anything. */
  async drop(block: string, offset: number): Promise<DeadLetter> {
    const { entry, key } = await this.#open(block, offset);
    await this.#mark(key, 'dropped');
    return entry;
  }

  /** The unresolved entry at `offset` in the current epoch, or NOT_FOUND (also for an entry that is no dead-letter record). */
  async #open(block: string, offset: number): Promise<{ entry: DeadLetter; key: string }> {
    const r = await this.#engine.read(channelOf(block), { after: offset - 1, limit: 1 });
    const raw = r.entries[0];
    const entry = raw === undefined || raw.offset !== offset ? undefined : this.#deadLetter(block, raw);
    if (entry === undefined) {
      throw new TributaryError(ErrorCodes.NOT_FOUND, `no dead letter ${offset} for block ${block}`);
    }
    const key = markKey(block, entry);
    if ((await this.#engine.kv.get(DLQ_NAMESPACE, key)) !== undefined) {
      throw new TributaryError(ErrorCodes.NOT_FOUND, `dead letter ${offset} of block ${block} is already resolved`);
    }
    return { entry, key };
  }

  /**
   * The entry as a dead letter, or undefined when its payload is not a record the runner writes for
   * this block (anyone able to append to `$dlq.<block>` could otherwise have an operator's replay run
   * the handler on a message of their making, or break the list). Each such entry is reported once.
   */
  #deadLetter(block: string, e: Entry): DeadLetter | undefined {
    const record = parseDeadLetterRecord(e.payload, block);
    if (typeof record !== 'string') return { offset: e.offset, epoch: e.epoch, time: e.time, record };
    const id = `${e.channel}:${e.epoch}:${e.offset}`;
    if (!this.#reported.has(id)) {
      // Bounded: forgetting only means an entry may be counted again.
      if (this.#reported.size >= 10_000) this.#reported.clear();
      this.#reported.add(id);
      this.#runner.reportBadEntry('$dlq.*', record, e);
    }
    return undefined;
  }

  readonly #reported = new Set<string>();

  #mark(key: string, action: 'replayed' | 'dropped'): Promise<void> {
    return this.#engine.kv.set(DLQ_NAMESPACE, key, JSON.stringify({ action, at: Date.now() }), MARK_TTL_MS);
  }
}

function channelOf(block: string): string {
  const channel = `$dlq.${block}`;
  const problem = channelProblem(channel, false);
  if (problem !== undefined) throw new TributaryError(ErrorCodes.INVALID_CHANNEL, `block name ${problem}`, { channel });
  return channel;
}

function markKey(block: string, e: Pick<Entry, 'epoch' | 'offset'>): string {
  return `${block}:${e.epoch}:${e.offset}`;
}

/**
 * Reads a `$dlq.<block>` payload: the {@link DeadLetterRecord} the runner writes for `block`, or the
 * problem as a string. Checks every field a replay or the console uses, with its type.
 */
export function parseDeadLetterRecord(payload: string, block: string): DeadLetterRecord | string {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return 'not JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not an object';
  const r = v as Record<string, unknown>;
  if (r.block !== block) return `block is not ${block}`;
  for (const f of ['version', 'channel', 'epoch'] as const) if (typeof r[f] !== 'string') return `${f} is not a string`;
  for (const f of ['offset', 'time', 'attempts', 'failedAt'] as const) if (!Number.isSafeInteger(r[f])) return `${f} is not an integer`;
  if (!('data' in r)) return 'data is missing';
  const err = r.error as Record<string, unknown> | null | undefined;
  if (typeof err !== 'object' || err === null || typeof err.code !== 'string' || typeof err.message !== 'string')
    return 'error is not {code, message}';
  if (r.msgId !== undefined && typeof r.msgId !== 'string') return 'msgId is not a string';
  if (r.hops !== undefined && !(Number.isSafeInteger(r.hops) && (r.hops as number) >= 0)) return 'hops is not a non-negative integer';
  if (channelProblem(r.channel, false) !== undefined) return 'channel is not a channel name';
  return r as unknown as DeadLetterRecord;
}
