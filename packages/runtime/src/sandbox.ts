import ivm from 'isolated-vm';
import { BOOTSTRAP } from './bootstrap.js';
import { BlockError, BlockErrorCodes, type BlockErrorCode } from './errors.js';
import type { ResolvedLimits } from './limits.js';

/** The JSON-able part of a block's definition, read out of its isolate. */
export interface BlockDescription {
  name: string;
  trigger: Record<string, unknown>;
  publishes?: string[];
  fetchAllow?: string[];
  limits?: Record<string, number>;
  concurrency?: number;
}

/** What the host learns about one invocation while it runs. */
export interface Invocation {
  readonly id: number;
  /** Hop count of the message being handled (0 for ticks and requests). */
  readonly hops: number;
  calls: number;
  /** Log lines written; past MAX_LOG_LINES the rest of the invocation's lines are dropped. */
  logs: number;
  /** Set once the invocation ended; host calls after that are refused. */
  done: boolean;
  /** The code of the last host call the host refused, to explain a handler that then failed. */
  refused?: BlockErrorCode;
}

/** Handles one host call of an invocation; returns a JSON-able value or throws a BlockError. */
export type HostHandler = (invocation: Invocation, op: string, args: unknown) => Promise<unknown>;

/** Static data handed to each invocation (ctx.block, ctx.config, ctx.secrets). */
export interface InvocationInfo {
  name: string;
  version: string;
  config: Record<string, unknown>;
  secrets: Record<string, string>;
}

/** Log lines one invocation may write. */
export const MAX_LOG_LINES = 100;

const MEMORY_MESSAGE = /memory limit|disposed/i;

/** What the bootstrap's __describe, __invokeSync and __await return (as JSON), so no block value crosses over. */
type Reply = { ok: true; value: unknown } | { ok: false; message: string };

/** Less CPU than this between two idle-watchdog polls counts as idle. */
const IDLE_CPU_NS = 1_000_000n;

/**
 * One block's V8 isolate: its own heap (memory limit), a CPU timeout on every synchronous slice, a
 * wall-time bound on the whole invocation, and a host-call budget. Any limit breach fails the
 * invocation with a BlockError and disposes the isolate; the next invocation gets a fresh one
 * (re-running the bundle: a cold start). Invocations run one at a time.
 */
export class BlockSandbox {
  readonly code: string;
  readonly limits: ResolvedLimits;
  readonly #host: HostHandler;
  #isolate: ivm.Isolate | undefined;
  #invoke: ivm.Reference | undefined;
  #await: ivm.Reference | undefined;
  /** JSON of each InvocationInfo, stringified once: it is the same for every invocation of a version. */
  #infoJson = new WeakMap<InvocationInfo, string>();
  #nextId = 1;
  #queue: Promise<unknown> = Promise.resolve();
  #live = new Map<number, Invocation>();
  /** The isolate the idle watchdog is polling, while it is armed. */
  #watched: ivm.Isolate | undefined;
  /** Isolates created so far (1 + restarts after limit breaches). */
  coldStarts = 0;

  private constructor(code: string, limits: ResolvedLimits, host: HostHandler) {
    this.code = code;
    this.limits = limits;
    this.#host = host;
  }

  /** Loads a bundle in a fresh isolate and reads its definition. */
  static async load(code: string, limits: ResolvedLimits, host: HostHandler): Promise<{ sandbox: BlockSandbox; description: BlockDescription }> {
    const sandbox = new BlockSandbox(code, limits, host);
    const context = await sandbox.#start();
    let reply: Reply;
    try {
      const json = (await sandbox.#deadline(context.eval('__describe()', { timeout: limits.cpuMs, copy: true }))) as string;
      reply = JSON.parse(json) as Reply;
    } catch (err) {
      sandbox.dispose();
      throw new BlockError(BlockErrorCodes.INVALID_BLOCK, errorText(err), { cause: err });
    }
    if (!reply.ok) {
      sandbox.dispose();
      throw new BlockError(BlockErrorCodes.INVALID_BLOCK, reply.message);
    }
    return { sandbox, description: reply.value as BlockDescription };
  }

  /** Runs the block's handler on `input`; resolves with its (JSON) result. */
  invoke(input: unknown, info: InvocationInfo, hops = 0): Promise<unknown> {
    const run = this.#queue.then(() => this.#run(input, info, hops));
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Heap used by the current isolate (undefined when none is running). Asynchronous on purpose:
   * getHeapStatisticsSync waits for the isolate's thread, so on a block stuck in a loop it would
   * freeze the host's event loop, and with it the very timers that would stop the block.
   */
  async heapUsedBytes(): Promise<number | undefined> {
    if (this.#isolate === undefined || this.#isolate.isDisposed) return undefined;
    const s = await this.#isolate.getHeapStatistics();
    return s.used_heap_size + s.externally_allocated_size;
  }

  /** Whether an isolate is loaded; false after a limit breach until the next invocation starts one. */
  get loaded(): boolean {
    return this.#isolate !== undefined && !this.#isolate.isDisposed;
  }

  dispose(): void {
    for (const inv of this.#live.values()) inv.done = true;
    this.#live.clear();
    if (this.#isolate !== undefined && !this.#isolate.isDisposed) this.#isolate.dispose();
    this.#isolate = undefined;
    this.#invoke?.release();
    this.#invoke = undefined;
    this.#await?.release();
    this.#await = undefined;
  }

  async #start(): Promise<ivm.Context> {
    this.coldStarts++;
    const isolate = new ivm.Isolate({ memoryLimit: this.limits.memoryMb });
    this.#isolate = isolate;
    try {
      const context = await isolate.createContext();
      const hostRef = new ivm.Reference(async (id: number, op: string, argsJson: string) => this.#onHostCall(id, op, argsJson));
      await context.global.set('__host', hostRef);
      await context.eval(BOOTSTRAP, { timeout: 1000 });
      await this.#deadline(context.eval(this.code, { timeout: Math.max(this.limits.cpuMs, 1000), filename: 'block.js' }));
      this.#invoke = (await context.global.get('__invokeSync', { reference: true })) as ivm.Reference;
      this.#await = (await context.global.get('__await', { reference: true })) as ivm.Reference;
      return context;
    } catch (err) {
      this.dispose();
      throw new BlockError(BlockErrorCodes.INVALID_BLOCK, `the block failed to load: ${errorText(err)}`, { cause: err });
    }
  }

  async #run(input: unknown, info: InvocationInfo, hops: number): Promise<unknown> {
    if (this.#isolate === undefined || this.#isolate.isDisposed) await this.#start();
    const isolate = this.#isolate as ivm.Isolate;
    const invoke = this.#invoke as ivm.Reference;
    const awaitRef = this.#await as ivm.Reference;
    const inv: Invocation = { id: this.#nextId++, hops, calls: 0, logs: 0, done: false };
    this.#live.set(inv.id, inv);
    const cpuBefore = isolate.cpuTime;
    let timer: NodeJS.Timeout | undefined;
    let breach: BlockErrorCode | undefined;
    let infoJson = this.#infoJson.get(info);
    if (infoJson === undefined) this.#infoJson.set(info, (infoJson = JSON.stringify(info)));
    try {
      // Synchronous first: a plain transform answers here, without a promise round trip to the
      // isolate's thread (the bulk of a warm invocation's cost). The CPU timeout bounds this slice.
      let text = invoke.applySync(undefined, [inv.id, JSON.stringify(input), infoJson], {
        timeout: this.limits.cpuMs,
        arguments: { copy: true },
        result: { copy: true },
      }) as string;
      if (text === '') {
        const call = awaitRef.apply(undefined, [inv.id], {
          timeout: this.limits.cpuMs,
          arguments: { copy: true },
          result: { promise: true, copy: true },
        }) as Promise<string>;
        const wall = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            breach = BlockErrorCodes.WALL_LIMIT;
            // Disposing terminates whatever the isolate is running, even a loop resumed after an await.
            this.dispose();
            reject(new BlockError(BlockErrorCodes.WALL_LIMIT, `invocation exceeded ${this.limits.wallMs} ms of wall time`));
          }, this.limits.wallMs);
        });
        text = await Promise.race([call, wall]);
      }
      const cpuMs = Number(isolate.cpuTime - cpuBefore) / 1e6;
      if (cpuMs > this.limits.cpuMs) {
        this.dispose();
        throw new BlockError(BlockErrorCodes.CPU_LIMIT, `invocation used ${cpuMs.toFixed(1)} ms of CPU (limit ${this.limits.cpuMs})`);
      }
      const reply = JSON.parse(text) as Reply;
      // Codes set by block code are not trusted; a refusal the host recorded is.
      if (!reply.ok) throw new BlockError(inv.refused ?? BlockErrorCodes.HANDLER_ERROR, reply.message);
      return reply.value;
    } catch (err) {
      throw this.#classify(err, isolate, breach, inv);
    } finally {
      clearTimeout(timer);
      inv.done = true;
      this.#live.delete(inv.id);
      // Host replies already on their way may still wake code the handler did not await.
      this.#watchIdle();
    }
  }

  /**
   * Bounds a load-time eval by wall time too: isolated-vm's `timeout` does not cover copying a thrown
   * error out, which runs the block's Error.prepareStackTrace, so a bundle whose top level throws
   * with a spinning one would hang the deploy and burn a thread forever. Disposing stops it.
   */
  async #deadline<T>(work: Promise<T>): Promise<T> {
    const ms = Math.max(this.limits.wallMs, 1000);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.dispose();
        reject(new BlockError(BlockErrorCodes.INVALID_BLOCK, `loading the block took longer than ${ms} ms`));
      }, ms);
    });
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  #classify(err: unknown, isolate: ivm.Isolate, breach: BlockErrorCode | undefined, inv: Invocation): BlockError {
    if (err instanceof BlockError) return err;
    const text = errorText(err);
    if (breach !== undefined) return new BlockError(breach, text, { cause: err });
    if (isolate.isDisposed && MEMORY_MESSAGE.test(text)) {
      this.dispose();
      return new BlockError(BlockErrorCodes.MEMORY_LIMIT, `block exceeded its ${this.limits.memoryMb} MiB heap`, { cause: err });
    }
    if (/timed out/i.test(text)) {
      this.dispose();
      return new BlockError(BlockErrorCodes.CPU_LIMIT, `invocation exceeded ${this.limits.cpuMs} ms of CPU`, { cause: err });
    }
    // Codes set by block code are not trusted; a refusal the host recorded is.
    if (inv.refused !== undefined) return new BlockError(inv.refused, text, { cause: err });
    return new BlockError(BlockErrorCodes.HANDLER_ERROR, text, { cause: err });
  }

  async #onHostCall(id: number, op: string, argsJson: string): Promise<string> {
    const inv = this.#live.get(id);
    try {
      if (inv === undefined || inv.done) throw new BlockError(BlockErrorCodes.HOST_REFUSED, 'the invocation has finished');
      // Logging is fire-and-forget and exempt from the call budget, but bounded, so a block cannot
      // flood its log channel within its CPU time; the excess is dropped silently.
      if (op === 'log' && ++inv.logs > MAX_LOG_LINES) return JSON.stringify({ ok: true, value: null });
      if (op !== 'log' && ++inv.calls > this.limits.callsPerInvocation) {
        throw new BlockError(BlockErrorCodes.CALL_LIMIT, `more than ${this.limits.callsPerInvocation} host calls in one invocation`);
      }
      const value = await this.#host(inv, op, JSON.parse(argsJson) as unknown);
      return JSON.stringify({ ok: true, value: value === undefined ? null : value });
    } catch (err) {
      const code = err instanceof BlockError ? err.code : BlockErrorCodes.HOST_REFUSED;
      if (inv !== undefined) inv.refused = code;
      return JSON.stringify({ ok: false, code, message: errorText(err) });
    } finally {
      // This reply wakes block code whose invocation has already ended (or the call itself came from
      // such code), possibly long after the invocation (a slow fetch): watch what that code does.
      if (inv === undefined || inv.done) this.#watchIdle();
    }
  }

  /**
   * Block code can outlive its invocation: a continuation woken by a host reply that arrives after
   * the handler answered (`void ctx.kv.get(k).then(() => { for (;;) {} })`) runs outside any
   * invocation, so neither the call's CPU timeout nor the wall timer covers it, and it would spin
   * until the next invocation (which would then be blamed with WALL_LIMIT). While no invocation is
   * live, the isolate may therefore use at most `cpuMs` of CPU; past that it is disposed and the next
   * invocation cold-starts. The watchdog polls every `cpuMs` and stops at the first idle poll, so a
   * well-behaved block costs one timer per invocation. `cpuTime` includes the running slice.
   */
  #watchIdle(): void {
    const isolate = this.#isolate;
    if (isolate === undefined || isolate.isDisposed || this.#watched === isolate) return;
    this.#watched = isolate;
    const start = isolate.cpuTime;
    let last = start;
    const poll = (): void => {
      // A live invocation's own CPU and wall limits cover the isolate from here on.
      if (this.#isolate !== isolate || isolate.isDisposed || this.#live.size > 0) {
        this.#watched = undefined;
        return;
      }
      const now = isolate.cpuTime;
      if (Number(now - start) / 1e6 > this.limits.cpuMs) {
        this.#watched = undefined;
        this.dispose();
        return;
      }
      if (now - last < IDLE_CPU_NS) {
        this.#watched = undefined;
        return;
      }
      last = now;
      setTimeout(poll, this.limits.cpuMs).unref();
    };
    setTimeout(poll, this.limits.cpuMs).unref();
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
