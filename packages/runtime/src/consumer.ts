import type { ConsumerGroups, Follow, GroupEntry, StreamEngine } from '@tributary/engine';
import type { Logger } from 'pino';
import type { DeployedBlock } from './deployed.js';
import { BlockError } from './errors.js';
import { RunnerExitedError } from './process/pool.js';
import { messageInput } from './triggers/input.js';
import { ErrorCodes, isTributaryError } from '@tributary/protocol';

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

/** An entry's identity among a group's pending entries. */
function heldKey(e: GroupEntry): string {
  return `${e.channel}\n${e.offset}`;
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
  /** Ends the idle wait of the lanes (a notification, or stop). */
  #wake: (() => void) | undefined;
  /** Set by a notification: the next idle wait is skipped, as the entry may have landed after the read. */
  #notified = false;
  /** Entries read and not yet taken by a lane. */
  #buffer: GroupEntry[] = [];
  /** The read (claim + read, or the idle wait after an empty one) every idle lane waits on. */
  #refilling: Promise<void> | undefined;
  #lanes = new Set<Promise<void>>();
  /** Indices of the running lanes: lane i runs while i < the block's concurrency. */
  #laneIndices = new Set<number>();
  /** Timers of retry backoffs in progress, so stop() does not wait them out. */
  #backoffs = new Set<() => void>();
  #lastClaim = 0;
  /**
   * Ask for this consumer's own pending entries before reading on: at start (a runner restarted
   * under the name it had may have been handed entries it never saw), and after a read or claim
   * failed (the store may have run it and lost the reply with the connection). Left to a claim,
   * those waited `claimIdleMs` and more.
   */
  #askOwn = true;
  /** Entries this consumer holds (buffered, or in a lane's run): its own pending ones it knows of. */
  readonly #held = new Set<string>();

  constructor(block: DeployedBlock, deps: ConsumerDeps) {
    this.#block = block;
    this.#deps = deps;
    this.#group = groupName(block.name);
  }

  /** Swaps in a new version; the lanes pick it up with the next entry (more lanes if it declares more concurrency). */
  set block(block: DeployedBlock) {
    this.#block = block;
    if (this.#lanes.size > 0) this.#startLanes();
  }

  async start(): Promise<void> {
    const patterns = this.#block.def.trigger.kind === 'afterPublish' ? this.#block.def.trigger.patterns : [];
    await this.#deps.groups.register(this.#group, patterns);
    for (const p of patterns) {
      this.#follows.push(
        await this.#deps.engine.followPattern(p, () => {
          this.#notified = true;
          this.#wake?.();
        }),
      );
    }
    this.#startLanes();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    for (const cut of this.#backoffs) cut();
    await Promise.allSettled(this.#follows.map((f) => f.close()));
    while (this.#lanes.size > 0) await Promise.all(this.#lanes);
  }

  /**
   * Runs as many lanes as the block's concurrency. One lane handles a channel's messages in order; a
   * block that declared concurrency N trades that order for N invocations at once (each in its own
   * isolate). Lanes take entries from one buffer, and a lane that finds it empty starts the next read
   * while the others finish theirs, so no lane idles until the slowest one ends its batch.
   */
  #startLanes(): void {
    const want = Math.max(1, this.#block.def.concurrency);
    for (let index = 0; index < want && !this.#stopped; index++) {
      if (this.#laneIndices.has(index)) continue;
      this.#laneIndices.add(index);
      const lane: Promise<void> = this.#lane(index).finally(() => {
        this.#lanes.delete(lane);
        this.#laneIndices.delete(index);
      });
      this.#lanes.add(lane);
    }
  }

  async #lane(index: number): Promise<void> {
    // A lane beyond the current version's concurrency (after a redeploy that lowered it) ends.
    while (!this.#stopped && index < Math.max(1, this.#block.def.concurrency)) {
      if (this.#buffer.length === 0) {
        await this.#refill();
        continue;
      }
      // A lane takes its share of what is buffered, in order (all of it with one lane) and hands it
      // to its runner process as one run: one crossing for the run, not one per message.
      const run = this.#buffer.splice(0, Math.ceil(this.#buffer.length / Math.max(1, this.#block.def.concurrency)));
      try {
        await this.#handleRun(run);
      } catch (err) {
        // Acking or dead-lettering failed (the store is unreachable): the entries stay pending, and
        // a claim hands them out again after claimIdleMs. Back off, never spin.
        this.#deps.log?.warn({ err, block: this.#block.name }, 'consumer loop error');
        await this.#backoff(this.#deps.retry.maxMs);
      } finally {
        for (const e of run) this.#held.delete(heldKey(e));
      }
      await nextTurn();
    }
  }

  /** One read for every lane that found the buffer empty: stale entries first, then new ones; or an idle wait. */
  #refill(): Promise<void> {
    this.#refilling ??= (async () => {
      const { groups, consumer, batch, claimIdleMs } = this.#deps;
      try {
        this.#notified = false;
        let work: GroupEntry[] = [];
        // What a lane holds (or held while a call was out: acked meanwhile) is not handed out again.
        const held = new Set(this.#held);
        const fresh = (e: GroupEntry): boolean => !held.has(heldKey(e)) && !this.#held.has(heldKey(e));
        if (this.#askOwn) {
          // The ones this consumer holds come first among its pending entries: ask past them.
          const want = batch + held.size;
          const own = await groups.redeliver(this.#group, consumer, want);
          work = own.filter(fresh).slice(0, batch);
          // A full answer may have more behind it: ask again next time, past what is held by then.
          this.#askOwn = own.length >= want;
        }
        if (work.length < batch && Date.now() - this.#lastClaim >= claimIdleMs / 2) {
          this.#lastClaim = Date.now();
          // A run longer than the claim time leaves its own entries claimable by this consumer too.
          work = work.concat((await groups.claim(this.#group, consumer, claimIdleMs, batch - work.length)).filter(fresh));
        }
        if (work.length < batch) work = work.concat(await groups.read(this.#group, consumer, batch - work.length));
        for (const e of work) this.#held.add(heldKey(e));
        this.#buffer.push(...work);
        if (work.length === 0 && !this.#notified) await this.#idle(this.#deps.pollMs);
      } catch (err) {
        // The store is unreachable or the group vanished: back off and try again, never spin.
        this.#askOwn = true;
        this.#deps.log?.warn({ err, block: this.#block.name }, 'consumer loop error');
        await this.#idle(this.#deps.retry.maxMs);
      } finally {
        this.#refilling = undefined;
      }
    })();
    return this.#refilling;
  }

  /**
   * Handles entries in order: runs them on one lane, acks those that succeeded, and takes the first
   * that failed through its retries (and the dead-letter channel) before the ones after it run, so a
   * failure holds back the messages behind it exactly as one-at-a-time handling would.
   */
  async #handleRun(entries: GroupEntry[]): Promise<void> {
    for (const e of entries) if (e.gapBefore !== undefined && e.gapBefore > 0) this.#deps.trimmed(this.#block, e);
    let rest = entries;
    while (rest.length > 0) {
      // A payload that is not JSON fails where it stands (and is dead-lettered after its retries).
      const items: Array<{ input: unknown; hops: number; source: GroupEntry }> = [];
      let unreadable: Error | undefined;
      for (const e of rest) {
        try {
          items.push({ input: toInput(e), hops: e.hops ?? 0, source: e });
        } catch (err) {
          unreadable = err as Error;
          break;
        }
      }
      let failedAt = items.length;
      let failure: unknown = unreadable;
      if (items.length > 0) {
        try {
          const outcomes = await this.#block.runMany(items);
          // Each success is acked as it comes in, while the runner goes on with the next: a crash
          // of this node mid-run leaves at most the one in flight to be handled again.
          for (let i = 0; i < outcomes.length; i++) {
            const o = await outcomes[i];
            if (o !== undefined && 'ok' in o && o.ok) {
              await this.#ack([rest[i] as GroupEntry]);
              continue;
            }
            failedAt = i;
            failure = o !== undefined && 'ok' in o ? o.error : new BlockError('STOPPED', 'the run was cut short');
            break;
          }
        } catch (err) {
          // The lane could not start the run (stopped, its runner unavailable): the first one failed.
          failedAt = 0;
          failure = err;
        }
      }
      if (failedAt >= rest.length || this.#stopped) return;
      await this.#retry(rest[failedAt] as GroupEntry, failure as Error);
      rest = rest.slice(failedAt + 1);
    }
  }

  /** Retries an entry whose delivery failed with `error`, with backoff; dead-letters it after `retry.attempts`. */
  async #retry(entry: GroupEntry, error: Error): Promise<void> {
    const { retry } = this.#deps;
    let attempt = entry.deliveries;
    let err = error;
    let spared = 0;
    for (;;) {
      if (this.#stopped) return; // left pending: another runner (or this one, restarted) reclaims it
      // A runner crash that took other invocations with it may have been any of theirs: up to
      // `attempts` such crashes are not held against this message (a poison message among busy
      // neighbours is still dead-lettered, after at most twice its attempts).
      if (err instanceof RunnerExitedError && !err.witnessed) {
        attempt--; // it never reached the runner that exited: not this message's doing
      } else if (err instanceof RunnerExitedError && spared < retry.attempts) {
        spared++;
        attempt--;
      }
      if (attempt >= retry.attempts) {
        const failure = err;
        const attempts = attempt;
        // Idempotent (the dead letter's msgId is its entry's), so it is retried through an outage.
        await this.#stored(() => this.#deps.deadLetter(this.#block, entry, failure, attempts));
        await this.#ack([entry]);
        return;
      }
      const backoff = Math.min(retry.maxMs, retry.baseMs * 2 ** Math.max(0, attempt - 1));
      await this.#backoff(backoff / 2 + Math.random() * (backoff / 2));
      // stop() cuts a backoff short: the block was removed or the runner closed, so the entry
      // stays pending for whoever runs the block next, and is not run here again.
      if (this.#stopped) return;
      attempt++;
      try {
        await this.#block.run(toInput(entry), entry.hops ?? 0, entry);
        await this.#ack([entry]);
        return;
      } catch (e) {
        err = e as Error;
      }
    }
  }

  /** Acks entries, one call per channel. */
  async #ack(entries: readonly GroupEntry[]): Promise<void> {
    const byChannel = new Map<string, number[]>();
    for (const e of entries) {
      const offsets = byChannel.get(e.channel);
      if (offsets === undefined) byChannel.set(e.channel, [e.offset]);
      else offsets.push(e.offset);
    }
    for (const [channel, offsets] of byChannel) await this.#stored(() => this.#deps.groups.ack(this.#group, channel, offsets));
  }

  /**
   * Runs a store write that may be repeated (an ack, a dead letter with its msgId) until it succeeds
   * while the store is unreachable, with backoff, so a consumer recovers as soon as the store is
   * back. Left to the claim instead, a message handled during an outage but not acked (or not
   * dead-lettered) waited claimIdleMs (30 s) before anything handled it again. Other failures, and
   * stop(), end it as before: the entry stays pending for a claim.
   */
  async #stored<T>(write: () => Promise<T>): Promise<T> {
    let wait = this.#deps.retry.baseMs;
    for (;;) {
      try {
        return await write();
      } catch (err) {
        if (this.#stopped || !isTributaryError(err) || (err.code !== ErrorCodes.UNAVAILABLE && err.code !== ErrorCodes.TIMEOUT)) throw err;
        this.#deps.log?.warn({ err, block: this.#block.name }, 'the store is unreachable: retrying an ack or dead letter');
        await this.#backoff(wait);
        wait = Math.min(this.#deps.retry.maxMs, wait * 2);
      }
    }
  }

  /** Waits `ms`, or until a notification or stop() wakes the consumer. */
  #idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  /** A backoff after a failure: only stop() cuts it short (a notification is no reason to retry sooner). */
  #backoff(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const backoffs = this.#backoffs;
      function done(): void {
        clearTimeout(t);
        backoffs.delete(done);
        resolve();
      }
      backoffs.add(done);
    });
  }
}

/**
 * Gives the event loop a turn between two messages of a lane. On an engine whose reads and acks
 * settle without I/O (the memory engine), a lane with a backlog otherwise runs message after
 * message in microtasks, and no timer, socket or other block's lane ran until the backlog was gone.
 * setImmediate callbacks run in the order they were queued, so the lanes of every block with work
 * take turns, one message each (round-robin), with timers and I/O in between.
 */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The message as the block's handler receives it (its data parsed from the stored JSON). */
export function toInput(entry: Pick<GroupEntry, 'channel' | 'offset' | 'epoch' | 'time' | 'payload' | 'msgId' | 'hops'>) {
  return messageInput({ ...entry, data: JSON.parse(entry.payload) as unknown });
}
