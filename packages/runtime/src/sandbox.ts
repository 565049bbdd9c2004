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
}

/** What the host learns about one invocation while it runs. */
export interface Invocation {
  readonly id: number;
  /** Hop count of the message being handled (0 for ticks and requests). */
  readonly hops: number;
  calls: number;
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

const MEMORY_MESSAGE = /memory limit|disposed/i;

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
  #nextId = 1;
  #queue: Promise<unknown> = Promise.resolve();
  #live = new Map<number, Invocation>();
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
    let description: BlockDescription;
    try {
      const json = (await context.eval('__describe()', { timeout: limits.cpuMs, copy: true })) as string;
      description = JSON.parse(json) as BlockDescription;
    } catch (err) {
      sandbox.dispose();
      throw new BlockError(BlockErrorCodes.INVALID_BLOCK, errorText(err), { cause: err });
    }
    return { sandbox, description };
  }

  /** Runs the block's handler on `input`; resolves with its (JSON) result. */
  invoke(input: unknown, info: InvocationInfo, hops = 0): Promise<unknown> {
    const run = this.#queue.then(() => this.#run(input, info, hops));
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Heap statistics of the current isolate (undefined when none is running). */
  heapUsedBytes(): number | undefined {
    if (this.#isolate === undefined || this.#isolate.isDisposed) return undefined;
    const s = this.#isolate.getHeapStatisticsSync();
    return s.used_heap_size + s.externally_allocated_size;
  }

  dispose(): void {
    for (const inv of this.#live.values()) inv.done = true;
    this.#live.clear();
    if (this.#isolate !== undefined && !this.#isolate.isDisposed) this.#isolate.dispose();
    this.#isolate = undefined;
    this.#invoke?.release();
    this.#invoke = undefined;
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
      await context.eval(this.code, { timeout: Math.max(this.limits.cpuMs, 1000), filename: 'block.js' });
      this.#invoke = (await context.global.get('__invoke', { reference: true })) as ivm.Reference;
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
    const inv: Invocation = { id: this.#nextId++, hops, calls: 0, done: false };
    this.#live.set(inv.id, inv);
    const cpuBefore = isolate.cpuTime;
    let timer: NodeJS.Timeout | undefined;
    let breach: BlockErrorCode | undefined;
    try {
      const call = invoke.apply(undefined, [inv.id, JSON.stringify(input), JSON.stringify(info)], {
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
      const text = await Promise.race([call, wall]);
      const cpuMs = Number(isolate.cpuTime - cpuBefore) / 1e6;
      if (cpuMs > this.limits.cpuMs) {
        this.dispose();
        throw new BlockError(BlockErrorCodes.CPU_LIMIT, `invocation used ${cpuMs.toFixed(1)} ms of CPU (limit ${this.limits.cpuMs})`);
      }
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw this.#classify(err, isolate, breach, inv);
    } finally {
      clearTimeout(timer);
      inv.done = true;
      this.#live.delete(inv.id);
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
      if (op !== 'log' && ++inv.calls > this.limits.callsPerInvocation) {
        throw new BlockError(BlockErrorCodes.CALL_LIMIT, `more than ${this.limits.callsPerInvocation} host calls in one invocation`);
      }
      const value = await this.#host(inv, op, JSON.parse(argsJson) as unknown);
      return JSON.stringify({ ok: true, value: value === undefined ? null : value });
    } catch (err) {
      const code = err instanceof BlockError ? err.code : BlockErrorCodes.HOST_REFUSED;
      if (inv !== undefined) inv.refused = code;
      return JSON.stringify({ ok: false, code, message: errorText(err) });
    }
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
