import { availableParallelism } from 'node:os';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { BlockError, BlockErrorCodes } from '../errors.js';
import { MAX_HOST_ARGS_CHARS, MAX_REQUEST_RESULT_CHARS, MAX_RESULT_CHARS } from '../limits.js';
import { BusyPoll, encodeFrames, FrameReader } from './channel.js';
import { checkFromRunner } from './check.js';
import { runnerEntry } from './entry.js';
import { Outbox, type FromRunner, type ToRunner } from './messages.js';
import { SoloGate } from './solo.js';
import { Launcher, type LaunchedRunner } from './spawner.js';

/** Why a runner process ended (the `reason` label of `tributary_block_runner_exits_total`). */
export type RunnerExitReason =
  /** It exited by itself: a V8 fatal error (SIGABRT) or any other death the node did not cause. */
  | 'crashed'
  /** Its resident memory passed its budget: its blocks' declared heaps plus `overheadMb`. */
  | 'memory'
  /** It sent nothing (not even its heartbeat) for `unresponsiveMs`. */
  | 'unresponsive'
  /**
   * It sent what no honest runner sends (a frame over the cap, bytes that are not JSON, a message
   * of the wrong shape): taken as code that escaped its isolate, and killed before the node reads more.
   */
  | 'protocol';

/** Every reason, for metrics that list each one from the start. */
export const RUNNER_EXIT_REASONS: readonly RunnerExitReason[] = ['crashed', 'memory', 'unresponsive', 'protocol'];

/**
 * The largest frame an honest runner sends, bytes, for a node whose publishes may carry
 * `maxPayloadChars`: the largest host-call arguments or result (see limits.ts), room for the
 * envelope, and 3 bytes of UTF-8 per character at worst.
 */
export function maxFrameBytes(maxPayloadChars = MAX_RESULT_CHARS): number {
  const chars = Math.max(MAX_HOST_ARGS_CHARS, MAX_REQUEST_RESULT_CHARS, maxPayloadChars + 64 * 1024) + 64 * 1024;
  return 3 * chars;
}

/** Options of the runner processes, under {@link RunnerOptions.runners}. */
export interface RunnerPoolOptions {
  /** Runner processes at most; started as blocks are placed. @defaultValue os.availableParallelism() */
  size?: number;
  /**
   * What a runner may use besides its blocks' declared heaps (Node itself, isolate overheads,
   * compiled code), MiB. A runner whose resident memory passes the sum is restarted.
   * @defaultValue 256
   */
  overheadMb?: number;
  /** A runner silent (no heartbeat, no answer) this long is killed and restarted. @defaultValue 15_000 */
  unresponsiveMs?: number;
  /**
   * After each message to or from a runner, the node (while invocations are in flight there) and
   * the runner keep polling for this long instead of sleeping, so an answer is read as it arrives:
   * lower latency through the process boundary for some CPU on both sides (see docs/BLOCKS.md).
   * 0 = off. @defaultValue 0
   */
  busyPollUs?: number;
}

/** Something a runner process routes to: a lane of a block placed on it. */
export interface PlacedLane {
  /** Heap the lane's isolate may use, MiB (counted into its runner's memory budget). */
  readonly memoryMb: number;
  onResult(m: Extract<FromRunner, { t: 'result' }> | Extract<FromRunner, { t: 'skipped' }>): void;
  onCall(m: Extract<FromRunner, { t: 'call' }>): void;
  /** The lane's isolate was recreated (its cold starts in the current process so far). */
  onCold(coldStarts: number): void;
  /** Its runner exited: fail each invocation in flight with the RUNNER_EXITED error `errorFor` gives it. */
  onExit(errorFor: (inv: number) => BlockError): void;
}

/**
 * RUNNER_EXITED for an invocation whose runner took `others` more invocations down with it: the
 * crash may have been any of theirs (the consumer does not count it against this message's
 * attempts at first; see consumer.ts).
 */
export class RunnerExitedError extends BlockError {
  readonly others: number;
  /**
   * False for an invocation the runner never received (it waited its turn while the runner ran one
   * at a time after a shared crash): it cannot have caused the exit, and is never blamed for it.
   */
  readonly witnessed: boolean;

  constructor(message: string, others: number, witnessed = true) {
    super(
      BlockErrorCodes.RUNNER_EXITED,
      witnessed ? `${message} (with ${others} other invocation(s) in flight on it)` : `${message} before the invocation reached it`,
    );
    this.others = others;
    this.witnessed = witnessed;
  }
}

const BEAT_CHECK_MS = 1000;
/** A runner that lived this long before dying is restarted at once; one dying sooner, after a doubling backoff. */
const STABLE_MS = 10_000;
const MAX_BACKOFF_MS = 5_000;

/**
 * One runner process and its supervision: started, watched (heartbeat and memory budget), and
 * restarted with backoff when it exits. Lanes placed on it survive restarts: each reloads its
 * isolate in the new process on its next invocation.
 */
export class RunnerProcess {
  readonly lanes = new Set<PlacedLane>();
  /** Increments with each start: a lane loaded in an older generation must load again. */
  generation = 0;
  #child: LaunchedRunner | undefined;
  #reader: FrameReader | undefined;
  #outbox: Outbox<ToRunner> | undefined;
  #readyNow = false;
  /** Callers of {@link ready} waiting for a process (any generation) to take messages. */
  #waiters = new Map<() => void, (err: BlockError) => void>();
  readonly #loads = new Map<number, { resolve: (m: Extract<FromRunner, { t: 'loaded' }>) => void; reject: (e: BlockError) => void }>();
  /** Live invocations by id, with the lane that sent each. */
  readonly invocations = new Map<number, PlacedLane>();
  #lastHeard = 0;
  #rss = 0;
  #startedAt = 0;
  #backoffMs = 0;
  #killedFor: RunnerExitReason | undefined;
  #closed = false;
  /** One piece of work at a time after a shared crash (see {@link SoloGate}). */
  readonly #gate = new SoloGate((message) => this.send(message));
  readonly #watch: NodeJS.Timeout;
  readonly #pool: RunnerPool;
  readonly #poll: BusyPoll;

  constructor(pool: RunnerPool) {
    this.#pool = pool;
    this.#poll = new BusyPoll(pool.busyPollUs, () => this.invocations.size > 0 || this.#loads.size > 0);
    this.#start();
    this.#watch = setInterval(() => this.#check(), BEAT_CHECK_MS);
    this.#watch.unref();
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Whether a process of this runner takes messages now (false while it restarts). */
  get up(): boolean {
    return this.#readyNow;
  }

  /** Resident memory at the last heartbeat, bytes. */
  get rss(): number {
    return this.#rss;
  }

  /** Resolves once this generation's process takes messages; RUNNER_UNAVAILABLE after `waitMs`. */
  async ready(waitMs: number): Promise<void> {
    if (this.#readyNow) return;
    if (this.#closed) throw new BlockError(BlockErrorCodes.STOPPED, 'the runner pool is closed');
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(done);
        reject(
          new BlockError(
            BlockErrorCodes.RUNNER_UNAVAILABLE,
            `no runner process took the invocation within ${waitMs} ms (it is restarting)`,
          ),
        );
      }, waitMs);
      this.#waiters.set(done, (err) => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        reject(err);
      });
    });
  }

  send(message: ToRunner): void {
    this.#outbox?.push(message);
  }

  /**
   * Sends a message that answers something process `generation` asked (a host-call reply): dropped
   * if that process has since exited, since ids like a call's are its own and a successor would
   * take the answer for one of its calls.
   */
  answer(generation: number, message: ToRunner): void {
    if (generation === this.generation && this.#child !== undefined) this.#outbox?.push(message);
  }

  /** Loads a bundle in sandbox `sb` of this process; resolves with the runner's answer. */
  load(message: Extract<ToRunner, { t: 'load' }>): Promise<Extract<FromRunner, { t: 'loaded' }>> {
    return new Promise((resolve, reject) => {
      this.#loads.set(message.sb, { resolve, reject });
      this.submit(message, [message.sb]);
    });
  }

  /** Whether this process runs one piece of work at a time (after a shared crash; see {@link SoloGate}). */
  get solo(): boolean {
    return this.#gate.on;
  }

  /** Sends work (a load, an invocation, a run) that settles by `ids` (see {@link SoloGate}). */
  submit(message: ToRunner, ids: number[]): void {
    this.#gate.submit(message, ids);
  }

  /** Kills the process (a test, or the watchdog): it is restarted like after a crash. */
  kill(reason: RunnerExitReason = 'crashed'): void {
    this.#killedFor ??= reason;
    this.#child?.kill('SIGKILL');
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#watch);
    for (const fail of [...this.#waiters.values()]) fail(new BlockError(BlockErrorCodes.STOPPED, 'the runner pool is closed'));
    const child = this.#child;
    if (child === undefined || child.exited) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  #start(): void {
    this.generation++;
    this.#readyNow = false;
    this.#killedFor = undefined;
    // Memory is judged on this process's own heartbeats, never on its predecessor's last one.
    this.#rss = 0;
    // Started by the pool's launcher, so this process does not fork (see launcher.ts). No inherited
    // execArgv: the node's flags (an inspector, a loader of its own) are not the runner's.
    const child = this.#pool.launcher.spawn([
      this.#pool.entry ?? runnerEntry(),
      String(this.#pool.maxFrameBytes),
      String(this.#pool.busyPollUs),
    ]);
    this.#child = child;
    this.#startedAt = Date.now();
    this.#lastHeard = Date.now();
    child.once('pipes', (toRunner, fromRunner) => this.#connect(child, toRunner, fromRunner));
    child.once('exit', (code, signal) => this.#exited(child, code, signal));
  }

  /** The launcher handed over the new process's pipes: frames flow from now on. */
  #connect(child: LaunchedRunner, toRunner: Socket, fromRunner: Socket): void {
    if (child !== this.#child) return;
    // A write to a process that is exiting fails; its exit handler settles what was in flight.
    toRunner.on('error', () => child.kill('SIGKILL'));
    fromRunner.on('error', () => child.kill('SIGKILL'));
    this.#outbox = new Outbox<ToRunner>({
      send: (batch) => {
        if (!toRunner.destroyed) toRunner.write(encodeFrames(batch));
        this.#poll.touch();
      },
    });
    const reader = new FrameReader(
      this.#pool.maxFrameBytes,
      (message) => {
        const m = checkFromRunner(message);
        if (typeof m === 'string') this.#refuse(child, reader, m);
        else this.#dispatch(m);
      },
      (err) => this.#refuse(child, reader, err.message),
    );
    this.#reader = reader;
    fromRunner.on('data', (chunk: Buffer) => {
      this.#lastHeard = Date.now();
      reader.push(chunk);
      this.#poll.touch();
    });
  }

  /** The runner sent what no honest runner sends: nothing more of it is read, and it is killed. */
  #refuse(child: LaunchedRunner, reader: FrameReader, why: string): void {
    reader.stop();
    if (child !== this.#child) return;
    this.#pool.noteRefused(this, why);
    this.kill('protocol');
  }

  #dispatch(m: FromRunner): void {
    switch (m.t) {
      case 'ready':
        this.#readyNow = true;
        for (const w of [...this.#waiters.keys()]) w();
        return;
      case 'beat':
        this.#rss = m.rss;
        return;
      case 'loaded': {
        this.#pool.noteCopied(m.copied);
        const l = this.#loads.get(m.sb);
        this.#loads.delete(m.sb);
        l?.resolve(m);
        this.#gate.settled(m.sb, m.ok);
        return;
      }
      case 'cold':
        this.invocations.get(m.inv)?.onCold(m.coldStarts);
        return;
      case 'skipped':
      case 'result': {
        if (m.t === 'result') this.#pool.noteCopied(m.copied);
        const lane = this.invocations.get(m.inv);
        this.invocations.delete(m.inv);
        lane?.onResult(m);
        this.#gate.settled(m.inv, m.t === 'result' && m.ok);
        return;
      }
      case 'call': {
        const lane = this.invocations.get(m.inv);
        if (lane !== undefined) lane.onCall(m);
        else
          this.send({
            t: 'reply',
            call: m.call,
            ok: false,
            error: { code: BlockErrorCodes.HOST_REFUSED, message: 'the invocation has finished' },
          });
        return;
      }
    }
  }

  #exited(child: LaunchedRunner, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.#child) return;
    this.#outbox?.clear();
    this.#outbox = undefined;
    this.#reader?.stop();
    this.#reader = undefined;
    this.#child = undefined;
    this.#readyNow = false;
    const reason = this.#killedFor ?? 'crashed';
    const error = new BlockError(
      BlockErrorCodes.RUNNER_EXITED,
      `the block's runner process exited (${
        reason === 'crashed' ? `code ${code ?? '-'}, signal ${signal ?? '-'}` : reason
      }) while the invocation ran`,
    );
    // Every load and invocation in flight fails; each is told how many others the same exit took,
    // since a retry policy should not blame a message for a crash it may only have witnessed (a
    // lane reloading after an earlier crash included). Work still waiting its turn in solo mode
    // never reached the process, and says so.
    const inFlight = this.#loads.size + this.invocations.size;
    const held = this.#gate.exited((unsent) => inFlight - unsent.size);
    const others = inFlight - held.size - 1;
    const failure = others > 0 ? new RunnerExitedError(error.message, others) : error;
    const unsent = new RunnerExitedError(error.message, 0, false);
    const errorFor = (id: number): BlockError => (held.has(id) ? unsent : failure);
    for (const [sb, l] of this.#loads) l.reject(errorFor(sb));
    this.#loads.clear();
    const lanes = new Set(this.invocations.values());
    this.invocations.clear();
    for (const lane of lanes) lane.onExit(errorFor);
    if (this.#closed) return;
    this.#pool.noteExit(this, reason, code, signal);
    // A process that dies soon after starting is restarted after a doubling backoff, so a block that
    // kills its runner on load cannot keep the node forking.
    this.#backoffMs = Date.now() - this.#startedAt >= STABLE_MS ? 0 : Math.min(MAX_BACKOFF_MS, Math.max(100, this.#backoffMs * 2));
    const restart = (): void => {
      if (!this.#closed) this.#start();
    };
    if (this.#backoffMs === 0) restart();
    else setTimeout(restart, this.#backoffMs).unref();
  }

  #check(): void {
    const now = Date.now();
    // This check itself ran late: the node's own loop stalled, and the runner's heartbeats wait
    // unread in the pipe. Silence is judged only against a node that was listening.
    if (now - this.#lastCheck > 2 * BEAT_CHECK_MS) this.#lastHeard = Math.max(this.#lastHeard, now - BEAT_CHECK_MS);
    this.#lastCheck = now;
    if (this.#child === undefined) return;
    // Silent since its start (it never said ready) or since its last message.
    if (now - (this.#readyNow ? this.#lastHeard : this.#startedAt) > this.#pool.unresponsiveMs) {
      this.kill('unresponsive');
      return;
    }
    let budgetMb = this.#pool.overheadMb;
    for (const lane of this.lanes) budgetMb += lane.memoryMb;
    if (this.#rss > budgetMb * 1024 * 1024) this.kill('memory');
  }

  #lastCheck = Date.now();
}

/**
 * The node's runner processes: block isolates are placed on them, each lane on the process with the
 * fewest lanes (a new process while fewer than `size` run), so one block's lanes spread and the
 * blocks share the node's cores.
 */
export class RunnerPool {
  readonly size: number;
  readonly overheadMb: number;
  readonly unresponsiveMs: number;
  readonly busyPollUs: number;
  /** The largest frame read from a runner; over it, the runner is killed (`protocol`). */
  readonly maxFrameBytes: number;
  readonly processes: RunnerProcess[] = [];
  /** Starts this pool's runner processes (see launcher.ts). */
  readonly launcher = new Launcher();
  #nextId = 1;
  #closed = false;
  readonly #log: Logger | undefined;
  readonly #onExit: ((reason: RunnerExitReason) => void) | undefined;
  readonly #onCopied: ((chars: number) => void) | undefined;

  constructor(
    options: RunnerPoolOptions = {},
    hooks: {
      logger?: Logger;
      onExit?: (reason: RunnerExitReason) => void;
      onCopied?: (chars: number) => void;
      /** The largest `ctx.publish` data of this node's blocks, characters. @defaultValue MAX_RESULT_CHARS */
      maxPayloadChars?: number;
      /** The runner's main module (tests run a hostile one). @defaultValue {@link runnerEntry} */
      entry?: string;
    } = {},
  ) {
    this.size = Math.max(1, Math.floor(options.size ?? availableParallelism()));
    this.overheadMb = options.overheadMb ?? 256;
    this.unresponsiveMs = options.unresponsiveMs ?? 15_000;
    this.busyPollUs = Math.max(0, Math.min(10_000, Math.floor(options.busyPollUs ?? 0)));
    this.maxFrameBytes = maxFrameBytes(hooks.maxPayloadChars);
    this.entry = hooks.entry;
    this.#log = hooks.logger;
    this.#onExit = hooks.onExit;
    this.#onCopied = hooks.onCopied;
  }

  /** The runner's main module, when not the runtime's own. */
  readonly entry: string | undefined;

  /** A fresh id for a sandbox or an invocation (unique across this pool's processes). */
  nextId(): number {
    return this.#nextId++;
  }

  /** The process a new lane goes to: one that is up, with the fewest lanes. */
  place(): RunnerProcess {
    if (this.#closed) throw new BlockError(BlockErrorCodes.STOPPED, 'the runner pool is closed');
    let best: RunnerProcess | undefined;
    const better = (p: RunnerProcess, than: RunnerProcess): boolean => (p.up !== than.up ? p.up : p.lanes.size < than.lanes.size);
    for (const p of this.processes) if (best === undefined || better(p, best)) best = p;
    if (best === undefined || (best.lanes.size > 0 && this.processes.length < this.size)) {
      best = new RunnerProcess(this);
      this.processes.push(best);
    }
    return best;
  }

  noteExit(p: RunnerProcess, reason: RunnerExitReason, code: number | null, signal: NodeJS.Signals | null): void {
    this.#log?.error(
      { runner: this.processes.indexOf(p), reason, code, signal, lanes: p.lanes.size },
      'a block runner process exited; its in-flight invocations failed with RUNNER_EXITED, and it is restarting',
    );
    this.#onExit?.(reason);
  }

  noteRefused(p: RunnerProcess, why: string): void {
    this.#log?.error(
      { runner: this.processes.indexOf(p), why },
      'a block runner process sent what no honest runner sends; it is killed (a block may have escaped its isolate)',
    );
  }

  noteCopied(chars: number): void {
    if (chars > 0) this.#onCopied?.(chars);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.processes.map((p) => p.close()));
    this.launcher.close();
  }
}
