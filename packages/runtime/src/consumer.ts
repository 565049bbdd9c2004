import type { ConsumerGroups, Follow, GroupEntry, StreamEngine } from '@tributary/engine';
import type { Logger } from 'pino';
import type { DeployedBlock } from './deployed.js';
import { BlockError } from './errors.js';

/** Retry policy of after-publish blocks. */
export interface RetryOptions {
  /**
   * Attempts per message before it goes to the dead-letter channel `$dlq.<block>`.
   * @defaultValue 5
   */
  attempts: number;
  /** First backoff, doubled per attempt with jitter. @defaultValue 100 */
  baseMs: number;
  /** Longest backoff. @defaultValue 2000 */
  maxMs: number;
}

/** What a consumer needs from the runner. */
export interface ConsumerDeps {
  engine: StreamEngine;
  groups: ConsumerGroups;
  consumer: string;
  retry: RetryOptions;
  /** Entries unacked this long are taken over from their (presumably dead) consumer. */
  claimIdleMs: number;
  /** Idle poll interval; notifications wake the loop sooner. */
  pollMs: number;
  batch: number;
  deadLetter: (block: DeployedBlock, entry: GroupEntry, error: BlockError | Error, attempts: number) => Promise<void>;
  /** Told when retention trimmed `entry.gapBefore` entries before the group read them. */
  trimmed: (block: DeployedBlock, entry: GroupEntry) => void;
  log: Logger | undefined;
}

/** The consumer-group name of an after-publish block (per block, not per version: redeploys continue it). */
export function groupName(block: string): string {
  return `block.${block}`;
}

/**
 * Runs one after-publish block on this runner: takes entries from the block's consumer group (new
 * ones, and stale ones other runners left unacked), invokes the block, acks on success, retries with
 * backoff, and dead-letters after `retry.attempts`. Each entry is handled by one runner at a time;
 * a runner that dies mid-entry has it reclaimed after `claimIdleMs` (at-least-once).
 */
export class GroupConsumer {
  #block: DeployedBlock;
  readonly #deps: ConsumerDeps;
  readonly #group: string;
  #follows: Follow[] = [];
  #stopped = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #lastClaim = 0;

  constructor(block: DeployedBlock, deps: ConsumerDeps) {
    this.#block = block;
    this.#deps = deps;
    this.#group = groupName(block.name);
  }

  /** Swaps in a new version; the loop picks it up with the next entry. */
  set block(block: DeployedBlock) {
    this.#block = block;
  }

  async start(): Promise<void> {
    const patterns = this.#block.def.trigger.kind === 'afterPublish' ? this.#block.def.trigger.patterns : [];
    await this.#deps.groups.register(this.#group, patterns);
    for (const p of patterns) this.#follows.push(await this.#deps.engine.followPattern(p, () => this.#wake?.()));
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await Promise.allSettled(this.#follows.map((f) => f.close()));
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { groups, consumer, batch, claimIdleMs } = this.#deps;
    while (!this.#stopped) {
      try {
        let work: GroupEntry[] = [];
        if (Date.now() - this.#lastClaim >= claimIdleMs / 2) {
          this.#lastClaim = Date.now();
          work = await groups.claim(this.#group, consumer, claimIdleMs, batch);
        }
        if (work.length < batch) work = work.concat(await groups.read(this.#group, consumer, batch - work.length));
        if (work.length === 0) {
          await this.#sleep(this.#deps.pollMs);
          continue;
        }
        // One at a time keeps a channel's messages in order; a block that declared concurrency N
        // trades that order for N invocations at once (each in its own isolate).
        let next = 0;
        const lanes = Math.max(1, Math.min(this.#block.def.concurrency, work.length));
        await Promise.all(Array.from({ length: lanes }, async () => {
          while (next < work.length && !this.#stopped) await this.#handle(work[next++] as GroupEntry);
        }));
        if (this.#stopped) return;
      } catch (err) {
        // The store is unreachable or the group vanished: back off and try again, never spin.
        this.#deps.log?.warn({ err, block: this.#block.name }, 'consumer loop error');
        await this.#sleep(this.#deps.retry.maxMs);
      }
    }
  }

  async #handle(entry: GroupEntry): Promise<void> {
    const { retry, groups } = this.#deps;
    if (entry.gapBefore !== undefined && entry.gapBefore > 0) this.#deps.trimmed(this.#block, entry);
    let attempt = entry.deliveries;
    for (;;) {
      const block = this.#block;
      try {
        await block.run(toInput(entry), entry.hops ?? 0);
        await groups.ack(this.#group, entry.channel, [entry.offset]);
        return;
      } catch (err) {
        if (this.#stopped) return; // left pending: another runner (or this one, restarted) reclaims it
        if (attempt >= retry.attempts) {
          await this.#deps.deadLetter(block, entry, err as Error, attempt);
          await groups.ack(this.#group, entry.channel, [entry.offset]);
          return;
        }
        const backoff = Math.min(retry.maxMs, retry.baseMs * 2 ** (attempt - 1));
        await this.#sleep(backoff / 2 + Math.random() * (backoff / 2));
        attempt++;
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.#wake = done;
    });
  }
}

/** The message as the block's handler receives it. */
export function toInput(entry: GroupEntry | { channel: string; offset: number; epoch: string; time: number; payload: string; msgId?: string; hops?: number }) {
  const input: Record<string, unknown> = {
    channel: entry.channel,
    offset: entry.offset,
    epoch: entry.epoch,
    time: entry.time,
    data: JSON.parse(entry.payload) as unknown,
    hops: entry.hops ?? 0,
  };
  if (entry.msgId !== undefined) input.msgId = entry.msgId;
  return input;
}
