import type { ResolvedLimits } from '../limits.js';
import type { BlockDescription, InvocationInfo, SandboxOptions } from '../sandbox.js';

/**
 * The messages between a node and its runner processes. Each side sends arrays of them: what one
 * turn of its event loop produced goes in one IPC write (see {@link Outbox}).
 */

/** A failure as it crosses the process boundary: a BlockError's code and message. */
export interface WireError {
  code: string;
  message: string;
}

/** Node → runner. */
export type ToRunner =
  /** Load a bundle into a new sandbox `sb` (a fresh isolate: bootstrap, top-level code, __describe). */
  | { t: 'load'; sb: number; code: string; limits: ResolvedLimits; options: SandboxOptions }
  /**
   * Run sandbox `sb`'s handler once. `input` is the message as JSON text (the isolate takes text);
   * `info` comes with the first invocation of a version on this runner and is kept per sandbox.
   */
  | { t: 'invoke'; sb: number; inv: number; input: string; hops: number; info?: InvocationInfo }
  /**
   * Run a lane's next messages in order, each after the previous one succeeded: one message for the
   * whole run instead of one per invocation, and the runner goes from one to the next without a
   * round trip. At the first failure it stops; the rest are answered `skipped`.
   */
  | { t: 'run'; sb: number; items: Array<{ inv: number; input: string; hops: number }>; info?: InvocationInfo }
  /** The answer to a host call. */
  | { t: 'reply'; call: number; ok: true; value: unknown }
  | { t: 'reply'; call: number; ok: false; error: WireError }
  /** Dispose sandbox `sb`: an invocation running in it is cut off (STOPPED). */
  | { t: 'dispose'; sb: number };

/** Runner → node. */
export type FromRunner =
  /** The runner is up and takes messages. */
  | { t: 'ready'; pid: number }
  | { t: 'loaded'; sb: number; ok: true; description: BlockDescription; copied: number }
  | { t: 'loaded'; sb: number; ok: false; error: WireError; copied: number }
  /**
   * An invocation settled. `copied` is the largest text the runner copied out of any isolate since
   * its last report (tests check an oversized value stayed inside); `coldStarts` the sandbox's own.
   */
  | { t: 'result'; inv: number; ok: true; value: unknown; copied: number; coldStarts: number }
  | { t: 'result'; inv: number; ok: false; error: WireError; copied: number; coldStarts: number }
  /**
   * Invocation `inv` starts in a fresh isolate (the last one was torn down by a limit breach): the
   * lane's cold starts, told before anything the invocation does reaches the node.
   */
  | { t: 'cold'; inv: number; coldStarts: number }
  /** An invocation of a run that was not started, because an earlier one failed. */
  | { t: 'skipped'; inv: number }
  /** A host call of invocation `inv` (publish, kv, fetch, log …), answered by a `reply`. */
  | { t: 'call'; inv: number; call: number; op: string; args: unknown }
  /** Sent every second: the runner's resident memory, and proof that its event loop turns. */
  | { t: 'beat'; rss: number };

/** Anything that can send a batch of messages (a ChildProcess, or `process` in the runner). */
export interface BatchSink<T> {
  send(batch: T[]): void;
}

/**
 * Collects messages and sends what one turn produced as one batch, once the turn's synchronous work
 * and microtasks are done: many invocations issued together (a consumer's batch, a burst of
 * publishes) cost one IPC write, while a lone message waits for nothing but the end of its turn.
 */
export class Outbox<T> {
  #queued: T[] = [];
  #scheduled = false;
  #held: ReturnType<typeof setTimeout> | undefined;
  readonly #sink: BatchSink<T>;

  constructor(sink: BatchSink<T>) {
    this.#sink = sink;
  }

  push(message: T): void {
    this.#queued.push(message);
    if (this.#scheduled) return;
    this.#scheduled = true;
    // After this turn's synchronous work and microtasks: what an incoming batch's handlers produce
    // leaves together (measured ~40 % less latency per crossing than waiting for setImmediate).
    process.nextTick(() => this.flush());
  }

  /**
   * Queues a message that may wait for the next one, up to `holdMs`: a run's result goes out with
   * the next invocation's first host call (or result) instead of in a write of its own. On a
   * virtualized machine each write that wakes the other side costs tens of µs of both sides' CPU;
   * one fewer per message of a run is a third of a relay block's crossings.
   */
  hold(message: T, holdMs = 1): void {
    this.#queued.push(message);
    if (this.#scheduled || this.#held !== undefined) return;
    this.#held = setTimeout(() => this.flush(), holdMs);
  }

  flush(): void {
    this.#scheduled = false;
    if (this.#held !== undefined) {
      clearTimeout(this.#held);
      this.#held = undefined;
    }
    if (this.#queued.length === 0) return;
    const batch = this.#queued;
    this.#queued = [];
    this.#sink.send(batch);
  }

  /** Forgets what was queued (the other side is gone). */
  clear(): void {
    this.#queued = [];
    if (this.#held !== undefined) clearTimeout(this.#held);
    this.#held = undefined;
  }
}
