import ivm from 'isolated-vm';
import { BOOTSTRAP } from './bootstrap.js';
import { BlockError, BlockErrorCodes, type BlockErrorCode } from './errors.js';
import {
  LOG_LIMITS,
  MAX_ERROR_CHARS,
  MAX_FETCH_BODY_CHARS,
  MAX_HOST_ARGS_CHARS,
  MAX_KV_VALUE_CHARS,
  MAX_RESULT_CHARS,
  type ResolvedLimits,
} from './limits.js';
import { redactCut } from './redact.js';

/** The JSON-able part of a block's definition, read out of its isolate. */
export interface BlockDescription {
  name: string;
  trigger: Record<string, unknown>;
  publishes?: string[];
  fetchAllow?: string[];
  limits?: Record<string, unknown>;
  concurrency?: number;
}

/**
 * Where an invocation's input came from, kept on the node for the host calls: a block's publishes
 * carry it on as lineage (the parent message) and trace context (docs/OPERATIONS.md, Lineage).
 */
export interface InvocationOrigin {
  /** The stored message being handled; absent for ticks, requests and before-publish checks. */
  parent?: { channel: string; offset: number; epoch: string };
  /** The invocation's W3C trace context, which its publishes carry on. */
  traceparent?: string;
}

/** One invocation of a run (see {@link Lane.invokeRun}). */
export interface RunItem {
  input: unknown;
  hops: number;
  origin?: InvocationOrigin;
}

/** What the host learns about one invocation while it runs. */
export interface Invocation {
  readonly id: number;
  /** Hop count of the message being handled (0 for ticks and requests). */
  readonly hops: number;
  /** Set by the node for after-publish deliveries and replays (never by a runner process). */
  readonly origin?: InvocationOrigin;
  calls: number;
  /** Log lines written; past MAX_LOG_LINES the rest of the invocation's lines are dropped. */
  logs: number;
  /** Log lines the host dropped (past MAX_LOG_LINES); the isolate counts those it dropped itself. */
  logsDropped: number;
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

/**
 * One concurrency lane of a deployed block: an isolate that runs one invocation at a time. In a
 * node it is a {@link RemoteLane} (the isolate in a runner process); `testBlock` and benchmarks use
 * a {@link BlockSandbox} directly.
 */
export interface Lane {
  invoke(input: unknown, info: InvocationInfo, hops?: number): Promise<unknown>;
  /**
   * Runs `items` in order, each after the previous one succeeded; at the first failure the rest are
   * not started (`skipped`). Resolves once the run is under way, with one promise per item that
   * settles as that item ends (they never reject). An after-publish lane hands over what it has
   * buffered this way.
   */
  invokeRun(items: ReadonlyArray<RunItem>, info: InvocationInfo): Promise<Array<Promise<RunOutcome>>>;
  /** Stops the lane for good; an invocation in flight fails with STOPPED. */
  dispose(): void;
  /** Isolates created so far (1 + restarts after limit breaches or runner restarts). */
  readonly coldStarts: number;
}

/** How one invocation of a run ended. */
export type RunOutcome = { ok: true; value: unknown } | { ok: false; error: unknown } | { skipped: true };

/** Log lines one invocation may write (enforced in the isolate; the host checks again). */
export const MAX_LOG_LINES = LOG_LIMITS.linesPerInvocation;

/** Options of {@link BlockSandbox.load}. */
export interface SandboxOptions {
  /** Largest result (characters of its JSON). @defaultValue {@link MAX_RESULT_CHARS} */
  resultChars?: number;
  /**
   * Largest `ctx.publish` data (characters of its JSON), checked inside the isolate: the broker's
   * max payload. @defaultValue {@link MAX_RESULT_CHARS} (the broker's default, 64 KiB)
   */
  payloadChars?: number;
}

/**
 * The largest text copied out of any isolate in one call so far: what crossed to the host, for
 * tests that check an oversized value stayed inside (isolated-vm's own methods cannot be wrapped).
 */
export const copiedOut = { largest: 0 };

const MEMORY_MESSAGE = /memory limit|disposed/i;

/**
 * What the bootstrap's __describe returns and an invocation settles with (as JSON), so no block value
 * crosses over: a value, a failure (its message cut, with its full length), or the size of a result
 * too large to copy out.
 */
type Reply = { ok: true; value: unknown } | { ok: false; message?: string; length?: number; tooLarge?: number };

/**
 * One entry of a __drain: the host calls queued, and the invocations settled (with the log lines
 * they dropped), since the last one.
 */
type Drained = [
  calls: Array<[invocation: number, call: number, op: string, args: unknown]>,
  finished: Array<[invocation: number, reply: Reply, logsDropped: number]>,
];

/** The bridge functions the bootstrap defines, taken before the block's bundle runs. */
interface Bridge {
  invoke: ivm.Reference;
  reply: ivm.Reference;
  drain: ivm.Reference;
}

/** How an invocation ended, and how to wake its {@link BlockSandbox.invoke} if it is waiting. */
interface End {
  /** The reply, the isolate CPU the invocation used and the log lines it dropped, once the handler has settled. */
  ok?: { reply: Reply; cpuNs: bigint; logsDropped: number };
  failed?: { error: unknown };
  wake?: () => void;
}

/** A live invocation's host-side state. */
interface Pending {
  inv: Invocation;
  cpuBefore: bigint;
  end: End;
}

/**
 * One block's V8 isolate: its own heap (memory limit), a CPU timeout on every slice of block code, a
 * wall-time bound on the whole invocation, and a host-call budget. Any limit breach fails the
 * invocation with a BlockError and disposes the isolate; the next invocation gets a fresh one
 * (re-running the bundle: a cold start). Invocations run one at a time.
 *
 * Block code runs only inside the host's own synchronous calls into the isolate (`applySync`, on the
 * host's thread): the call that starts an invocation and one per host-call reply, each followed by a
 * `__drain` that collects the calls and outcomes those slices produced (see the bootstrap). The
 * isolate holds no reference into the host, so nothing of the block's can run outside such a slice,
 * and every slice is bounded by the invocation's remaining CPU time: a loop resumed after an await is
 * stopped like any other. This keeps every hop on one thread: isolated-vm's asynchronous calls hand
 * each one to a pool thread and back (about 50 µs of CPU per hop, measured), several per invocation.
 */
export class BlockSandbox implements Lane {
  readonly code: string;
  readonly limits: ResolvedLimits;
  readonly #host: HostHandler;
  readonly #resultChars: number;
  /** Caps on host-call arguments, measured in the isolate (see {@link BlockSandbox.#caps}). */
  readonly #argCaps: { payload: number; kv: number; fetchBody: number; args: number };
  #isolate: ivm.Isolate | undefined;
  #bridge: Bridge | undefined;
  /** JSON of each InvocationInfo, stringified once: it is the same for every invocation of a version. */
  #infoJson = new WeakMap<InvocationInfo, string>();
  #nextId = 1;
  #queue: Promise<unknown> = Promise.resolve();
  #live = new Map<number, Pending>();
  /** Set by {@link dispose}: the sandbox is finished for good. */
  #disposed = false;
  /** Isolate CPU time when the last invocation ended: code running after it is charged against cpuMs from here. */
  #idleSince = 0n;
  /** Isolates created so far (1 + restarts after limit breaches). */
  coldStarts = 0;

  private constructor(code: string, limits: ResolvedLimits, host: HostHandler, options: SandboxOptions) {
    this.code = code;
    this.limits = limits;
    this.#host = host;
    this.#resultChars = options.resultChars ?? MAX_RESULT_CHARS;
    const payload = options.payloadChars ?? MAX_RESULT_CHARS;
    this.#argCaps = {
      payload,
      kv: MAX_KV_VALUE_CHARS,
      fetchBody: MAX_FETCH_BODY_CHARS,
      args: Math.max(MAX_HOST_ARGS_CHARS, payload + 64 * 1024),
    };
  }

  /** Loads a bundle in a fresh isolate and reads its definition. */
  static async load(
    code: string,
    limits: ResolvedLimits,
    host: HostHandler,
    options: SandboxOptions = {},
  ): Promise<{ sandbox: BlockSandbox; description: BlockDescription }> {
    const sandbox = new BlockSandbox(code, limits, host, options);
    const describe = await sandbox.#start();
    let reply: Reply;
    try {
      const json = (await sandbox.#deadline(describe.apply(undefined, [], { timeout: limits.cpuMs, result: { copy: true } }))) as string;
      copiedOut.largest = Math.max(copiedOut.largest, json.length);
      reply = JSON.parse(json) as Reply;
    } catch (err) {
      const isolate = sandbox.#isolate;
      if (isolate === undefined) throw new BlockError(BlockErrorCodes.INVALID_BLOCK, errorText(err), { cause: err });
      throw sandbox.#loadFailure(err, isolate, "reading the block's definition failed");
    } finally {
      describe.release();
    }
    if (!reply.ok) {
      sandbox.dispose();
      throw new BlockError(BlockErrorCodes.INVALID_BLOCK, reply.message ?? 'the block failed to describe itself');
    }
    return { sandbox, description: reply.value as BlockDescription };
  }

  /** Runs the block's handler on `input`; resolves with its (JSON) result. */
  invoke(input: unknown, info: InvocationInfo, hops = 0): Promise<unknown> {
    return this.invokeJson(JSON.stringify(input), info, hops);
  }

  async invokeRun(items: ReadonlyArray<RunItem>, info: InvocationInfo): Promise<Array<Promise<RunOutcome>>> {
    let previous: Promise<RunOutcome> = Promise.resolve({ ok: true, value: null });
    return items.map(
      (item) =>
        (previous = previous.then((before): Promise<RunOutcome> | RunOutcome =>
          'ok' in before && before.ok
            ? this.invoke(item.input, info, item.hops).then(
                (value) => ({ ok: true as const, value }),
                (error: unknown) => ({ ok: false as const, error }),
              )
            : { skipped: true as const },
        )),
    );
  }

  /** {@link invoke} with the input already as JSON text (as a runner process receives it). */
  invokeJson(input: string, info: InvocationInfo, hops = 0): Promise<unknown> {
    const run = this.#queue.then(() => this.#run(input, info, hops));
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Heap used by the current isolate (undefined when none is running). Asynchronous on purpose: it
   * must not wait on the isolate from inside a slice.
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

  /**
   * Disposes the isolate from outside (the runner closing, a version removed): an invocation still
   * running is failed at once with STOPPED rather than left to its wall time.
   */
  dispose(): void {
    this.#disposed = true;
    const live = [...this.#live.values()];
    this.#teardown();
    for (const p of live) {
      p.end.failed ??= { error: new BlockError(BlockErrorCodes.STOPPED, 'the runner stopped while the invocation ran') };
      p.end.wake?.();
    }
  }

  /** Disposes the isolate; each caller settles the invocations it cut off with its own error. */
  #teardown(): void {
    for (const p of this.#live.values()) p.inv.done = true;
    this.#live.clear();
    if (this.#isolate !== undefined && !this.#isolate.isDisposed) this.#isolate.dispose();
    this.#isolate = undefined;
    if (this.#bridge !== undefined) for (const ref of Object.values(this.#bridge)) ref.release();
    this.#bridge = undefined;
  }

  /** Creates the isolate, runs the bootstrap and the bundle; returns a reference to __describe. */
  async #start(): Promise<ivm.Reference> {
    this.coldStarts++;
    const isolate = new ivm.Isolate({ memoryLimit: this.limits.memoryMb });
    this.#isolate = isolate;
    try {
      const context = await isolate.createContext();
      await context.eval(BOOTSTRAP, { timeout: 1000 });
      // Taken (and removed from the global) before the block's code runs, which can then neither
      // replace nor call them.
      const take = async (name: string): Promise<ivm.Reference> => {
        const ref = (await context.global.get(name, { reference: true })) as ivm.Reference;
        await context.global.delete(name);
        return ref;
      };
      const describe = await take('__describe');
      this.#bridge = { invoke: await take('__invoke'), reply: await take('__reply'), drain: await take('__drain') };
      // WebAssembly memory is allocated outside the V8 heap, where isolated-vm's memory limit does
      // not see it (measured: 512 MiB grown in a 32 MiB isolate, externally_allocated_size 0). Off
      // unless the block opted in; deleted before its code runs, so feature detection finds none.
      if (!this.limits.wasm) await context.global.delete('WebAssembly');
      // Top-level code gets what an invocation gets: cpuMs (and the lane's heap, the isolate's own).
      await this.#deadline(context.eval(this.code, { timeout: this.limits.cpuMs, filename: 'block.js' }));
      this.#idleSince = isolate.cpuTime;
      return describe;
    } catch (err) {
      throw this.#loadFailure(err, isolate, 'the block failed to load');
    }
  }

  /**
   * A failed load as a BlockError: CPU_LIMIT or MEMORY_LIMIT when top-level code (or reading the
   * definition) broke the limits, else INVALID_BLOCK. Disposes the isolate.
   */
  #loadFailure(err: unknown, isolate: ivm.Isolate, what: string): BlockError {
    const disposed = isolate.isDisposed;
    this.#teardown();
    if (err instanceof BlockError) return err;
    const text = errorText(err);
    if (/timed out/i.test(text)) {
      return new BlockError(BlockErrorCodes.CPU_LIMIT, `${what}: its top-level code exceeded ${this.limits.cpuMs} ms of CPU`, {
        cause: err,
      });
    }
    if (disposed && MEMORY_MESSAGE.test(text)) {
      return new BlockError(BlockErrorCodes.MEMORY_LIMIT, `${what}: it exceeded its ${this.limits.memoryMb} MiB heap`, { cause: err });
    }
    return new BlockError(BlockErrorCodes.INVALID_BLOCK, `${what}: ${text}`, { cause: err });
  }

  async #run(input: string, info: InvocationInfo, hops: number): Promise<unknown> {
    // Disposed from outside (removed, replaced, closed): never again a fresh isolate for it. A
    // breach tears the isolate down without this, and the next invocation starts a new one.
    if (this.#disposed) throw new BlockError(BlockErrorCodes.STOPPED, 'the block was stopped');
    if (this.#isolate === undefined || this.#isolate.isDisposed) (await this.#start()).release();
    const isolate = this.#isolate as ivm.Isolate;
    const bridge = this.#bridge as Bridge;
    const inv: Invocation = { id: this.#nextId++, hops, calls: 0, logs: 0, logsDropped: 0, done: false };
    let infoJson = this.#infoJson.get(info);
    if (infoJson === undefined) this.#infoJson.set(info, (infoJson = JSON.stringify({ ...info, caps: this.#caps(info) })));
    let timer: NodeJS.Timeout | undefined;
    let breach: BlockErrorCode | undefined;
    // A plain handler ends within its first slice, with no promise or timer.
    const end: End = {};
    this.#live.set(inv.id, { inv, cpuBefore: isolate.cpuTime, end });
    try {
      this.#slice(isolate, bridge, bridge.invoke, [inv.id, input, infoJson]);
      if (end.ok === undefined && end.failed === undefined) {
        // Still running: it waits on host calls. Its slices are bounded by CPU, the whole by wall time.
        await new Promise<void>((resolve) => {
          end.wake = resolve;
          timer = setTimeout(() => {
            breach = BlockErrorCodes.WALL_LIMIT;
            this.#teardown();
            end.failed ??= {
              error: new BlockError(BlockErrorCodes.WALL_LIMIT, `invocation exceeded ${this.limits.wallMs} ms of wall time`),
            };
            resolve();
          }, this.limits.wallMs);
        });
      }
      if (end.failed !== undefined) throw end.failed.error;
      const { reply, cpuNs, logsDropped } = end.ok as NonNullable<End['ok']>;
      // Told to the host once, as one "N lines dropped" line, not per line.
      const dropped = logsDropped + inv.logsDropped;
      if (dropped > 0) void this.#host(inv, 'log.dropped', { dropped }).catch(() => {});
      const cpuMs = Number(cpuNs) / 1e6;
      if (cpuMs > this.limits.cpuMs) {
        this.#teardown();
        throw new BlockError(BlockErrorCodes.CPU_LIMIT, `invocation used ${cpuMs.toFixed(1)} ms of CPU (limit ${this.limits.cpuMs})`);
      }
      // Codes set by block code are not trusted; a refusal the host recorded is.
      if (!reply.ok) {
        // The isolate reports only the size of an oversized result. Block code could forge this
        // reply, but only to fail its own invocation with another code.
        if (typeof reply.tooLarge === 'number') {
          throw new BlockError(
            BlockErrorCodes.RESULT_TOO_LARGE,
            `the result is ${reply.tooLarge} characters of JSON (limit ${this.#resultChars}); it was not copied out of the isolate`,
          );
        }
        const message = redactCut(String(reply.message), Number(reply.length), MAX_ERROR_CHARS, info.secrets, false);
        throw new BlockError(inv.refused ?? BlockErrorCodes.HANDLER_ERROR, message);
      }
      return reply.value;
    } catch (err) {
      throw this.#classify(err, isolate, breach, inv);
    } finally {
      clearTimeout(timer);
      inv.done = true;
      this.#live.delete(inv.id);
    }
  }

  /**
   * Runs one slice of block code (a call of `enter`, __invoke or __reply, given the CPU left), then
   * takes what it produced: starts the host calls it queued and settles the invocations it finished.
   * __invoke answers with what its synchronous part produced; a `__drain` then collects what
   * microtasks added, unless that answer already settled every invocation the slice could be running
   * (a plain handler: one call into the isolate in all; later leftovers go with the next drain). A
   * slice that fails (CPU timeout, heap exhausted) fails every live invocation, since it may have
   * been running any of them.
   */
  #slice(isolate: ivm.Isolate, bridge: Bridge, enter: ivm.Reference, args: unknown[]): void {
    // Taken first: classifying a breach disposes the isolate, which forgets the live invocations.
    const live = [...this.#live.values()];
    try {
      const timeout = this.#budget(isolate);
      if (timeout === undefined) {
        // Code outliving its invocation has used up cpuMs since: it must not keep the isolate.
        this.#teardown();
        return;
      }
      const first = enter.applySync(undefined, args, { timeout, arguments: { copy: true }, result: { copy: true } }) as unknown;
      if (typeof first === 'string' && first.length > copiedOut.largest) copiedOut.largest = first.length;
      if (typeof first === 'string' && first !== '') this.#take(isolate, bridge, JSON.parse(first) as Drained);
      if (enter === bridge.invoke && live.length > 0 && live.every((p) => !this.#live.has(p.inv.id))) return;
      const text = bridge.drain.applySync(undefined, [], { timeout, result: { copy: true } }) as string;
      if (text.length > copiedOut.largest) copiedOut.largest = text.length;
      if (text !== '') this.#take(isolate, bridge, JSON.parse(text) as Drained);
    } catch (err) {
      const failure = this.#classify(err, isolate, undefined, undefined);
      // Code outliving its invocation: nobody to blame, but it must not keep the isolate.
      if (live.length === 0) this.#teardown();
      for (const p of live) {
        p.end.failed ??= { error: failure };
        p.end.wake?.();
      }
    }
  }

  /** Settles the invocations a drain reports finished, then starts the host calls it carries. */
  #take(isolate: ivm.Isolate, bridge: Bridge, drained: Drained): void {
    // Finished ones first: a call in the same drain as its invocation's end came from code that ran
    // after the end (the end waits for every call made before it), and is refused.
    for (const [id, reply, logsDropped] of drained[1]) {
      const p = this.#live.get(id);
      if (p === undefined) continue;
      p.inv.done = true;
      this.#live.delete(id);
      const cpu = isolate.cpuTime;
      // From here on, code still running is charged to no invocation (see #budget).
      if (this.#live.size === 0) this.#idleSince = cpu;
      p.end.ok ??= { reply, cpuNs: cpu - p.cpuBefore, logsDropped: typeof logsDropped === 'number' ? logsDropped : 0 };
      p.end.wake?.();
    }
    for (const [id, callId, op, args] of drained[0]) {
      void this.#onHostCall(id, op, args).then((replyJson) => {
        // A reply for an isolate since disposed (a breach, a wall timeout) has no one to wake.
        if (this.#isolate !== isolate || isolate.isDisposed) return;
        this.#slice(isolate, bridge, bridge.reply, [callId, replyJson]);
      });
    }
  }

  /**
   * CPU ms the next slice may use: what is left of the live invocation's `cpuMs` (at least 1: its
   * total is checked when it ends); or, when none is live (a reply waking code whose invocation
   * already ended), what is left of `cpuMs` since the last one ended, undefined once none is.
   * isolated-vm's `cpuTime` counts all time spent inside the isolate, so a block that holds the
   * thread without using CPU (Atomics.wait) spends its budget too.
   */
  #budget(isolate: ivm.Isolate): number | undefined {
    const live = this.#live.values().next();
    const since = live.done === true ? this.#idleSince : live.value.cpuBefore;
    const left = this.limits.cpuMs - Number(isolate.cpuTime - since) / 1e6;
    if (live.done === true && left <= 0) return undefined;
    return Math.max(1, Math.ceil(left));
  }

  /**
   * Bounds a load-time eval by wall time too: isolated-vm's `timeout` does not cover copying a thrown
   * error out, which runs the block's Error.prepareStackTrace, so a bundle whose top level throws
   * with a spinning one would hang the deploy and burn a thread forever. Disposing stops it.
   */
  async #deadline<T>(work: Promise<T>): Promise<T> {
    // Past the CPU timeout, so a load that spins is reported as CPU_LIMIT by that timeout.
    const ms = Math.max(this.limits.wallMs, 2 * this.limits.cpuMs, 1000);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#teardown();
        reject(new BlockError(BlockErrorCodes.INVALID_BLOCK, `loading the block took longer than ${ms} ms`));
      }, ms);
    });
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  #classify(err: unknown, isolate: ivm.Isolate, breach: BlockErrorCode | undefined, inv: Invocation | undefined): BlockError {
    if (err instanceof BlockError) return err;
    const text = errorText(err);
    if (breach !== undefined) return new BlockError(breach, text, { cause: err });
    if (isolate.isDisposed && MEMORY_MESSAGE.test(text)) {
      this.#teardown();
      return new BlockError(BlockErrorCodes.MEMORY_LIMIT, `block exceeded its ${this.limits.memoryMb} MiB heap`, { cause: err });
    }
    if (/timed out/i.test(text)) {
      this.#teardown();
      return new BlockError(BlockErrorCodes.CPU_LIMIT, `invocation exceeded ${this.limits.cpuMs} ms of CPU`, { cause: err });
    }
    // Codes set by block code are not trusted; a refusal the host recorded is.
    if (inv?.refused !== undefined) return new BlockError(inv.refused, text, { cause: err });
    return new BlockError(BlockErrorCodes.HANDLER_ERROR, text, { cause: err });
  }

  /** The bounds the bootstrap enforces inside the isolate, handed over with each invocation's info. */
  #caps(info: InvocationInfo): Record<string, number> {
    // The slack keeps the longest secret whole across a cut, for the host's redaction.
    const slack = Object.values(info.secrets).reduce((n, v) => Math.max(n, v.length), 0);
    return {
      lines: LOG_LIMITS.linesPerInvocation,
      chars: LOG_LIMITS.charsPerInvocation,
      lineChars: LOG_LIMITS.lineChars,
      slack,
      result: this.#resultChars,
      error: MAX_ERROR_CHARS,
      calls: this.limits.callsPerInvocation,
      ...this.#argCaps,
    };
  }

  /**
   * The refusal of an argument the isolate measured over its cap (only its size crossed): which cap
   * is the host's own, so the limit named is the one enforced.
   */
  #tooLarge(args: unknown): BlockError {
    const a = (args ?? {}) as { what?: unknown; size?: unknown; op?: unknown };
    const what = typeof a.what === 'string' && Object.hasOwn(TOO_LARGE_WHAT, a.what) ? (a.what as keyof typeof TOO_LARGE_WHAT) : 'args';
    const limit =
      what === 'publish'
        ? this.#argCaps.payload
        : what === 'kv'
          ? this.#argCaps.kv
          : what === 'fetch'
            ? this.#argCaps.fetchBody
            : this.#argCaps.args;
    const unit = what === 'publish' || what === 'args' ? 'characters of JSON' : 'characters';
    const name = what === 'args' ? `the arguments of ${String(a.op).slice(0, 40)}` : TOO_LARGE_WHAT[what];
    return new BlockError(
      BlockErrorCodes.PAYLOAD_TOO_LARGE,
      `${name} is ${Number(a.size)} ${unit} (limit ${limit}); refused inside the isolate, it was not copied out`,
    );
  }

  async #onHostCall(id: number, op: string, args: unknown): Promise<string> {
    const inv = this.#live.get(id)?.inv;
    try {
      if (inv === undefined || inv.done) throw new BlockError(BlockErrorCodes.HOST_REFUSED, 'the invocation has finished');
      // Logging is fire-and-forget and exempt from the call budget, but bounded (in the isolate, and
      // here again), so a block cannot flood its log channel within its CPU time; the excess is
      // dropped and counted.
      if (op === 'log' && ++inv.logs > MAX_LOG_LINES) {
        inv.logsDropped++;
        return JSON.stringify({ ok: true, value: null });
      }
      if (op !== 'log' && ++inv.calls > this.limits.callsPerInvocation) {
        throw new BlockError(BlockErrorCodes.CALL_LIMIT, `more than ${this.limits.callsPerInvocation} host calls in one invocation`);
      }
      if (op === 'tooLarge') throw this.#tooLarge(args);
      const value = await this.#host(inv, op, args);
      return JSON.stringify({ ok: true, value: value === undefined ? null : value });
    } catch (err) {
      const code = err instanceof BlockError ? err.code : BlockErrorCodes.HOST_REFUSED;
      if (inv !== undefined) inv.refused = code;
      return JSON.stringify({ ok: false, code, message: errorText(err) });
    }
  }
}

const TOO_LARGE_WHAT = { publish: 'publish data', kv: 'kv value', fetch: 'fetch body', args: 'arguments' } as const;

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
