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
    const marks = await Promise.all(r.entries.map((e) => this.#engine.kv.get(DLQ_NAMESPACE, markKey(block, e))));
    const open = r.entries.filter((_, i) => marks[i] === undefined);
    return { channel, epoch: r.epoch, unresolved: open.length, entries: open.slice(0, limit).map(toDeadLetter) };
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
      const dl = toDeadLetter(entry);
      const ran = await this.#runner.replay(block, dl.record);
      if (!ran) throw new TributaryError(ErrorCodes.NOT_FOUND, `no after-publish block ${block} runs on this node`);
      await this.#mark(key, 'replayed');
      return dl;
    } finally {
      await this.#engine.kv.del(DLQ_NAMESPACE, lease).catch(() => false);
    }
  }

  /** Marks the entry resolved without running anything. */
  async drop(block: string, offset: number): Promise<DeadLetter> {
    const { entry, key } = await this.#open(block, offset);
    await this.#mark(key, 'dropped');
    return toDeadLetter(entry);
  }

  /** The unresolved entry at `offset` in the current epoch, or NOT_FOUND. */
  async #open(block: string, offset: number): Promise<{ entry: Entry; key: string }> {
    const r = await this.#engine.read(channelOf(block), { after: offset - 1, limit: 1 });
    const entry = r.entries[0];
    if (entry === undefined || entry.offset !== offset) {
      throw new TributaryError(ErrorCodes.NOT_FOUND, `no dead letter ${offset} for block ${block}`);
    }
    const key = markKey(block, entry);
    if ((await this.#engine.kv.get(DLQ_NAMESPACE, key)) !== undefined) {
      throw new TributaryError(ErrorCodes.NOT_FOUND, `dead letter ${offset} of block ${block} is already resolved`);
    }
    return { entry, key };
  }

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

function toDeadLetter(e: Entry): DeadLetter {
  return { offset: e.offset, epoch: e.epoch, time: e.time, record: JSON.parse(e.payload) as DeadLetterRecord };
}
