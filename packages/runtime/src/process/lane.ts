import { BlockError, BlockErrorCodes, type BlockErrorCode } from '../errors.js';
import type { ResolvedLimits } from '../limits.js';
import type { BlockDescription, HostHandler, Invocation, InvocationInfo, Lane, RunItem, RunOutcome, SandboxOptions } from '../sandbox.js';
import type { FromRunner, WireError } from './messages.js';
import type { PlacedLane, RunnerPool, RunnerProcess } from './pool.js';

interface Live {
  inv: Invocation;
  resolve: (value: unknown) => void;
  reject: (err: BlockError) => void;
  /** Set for an invocation of a run: told it was not started. */
  skip?: () => void;
}

/** Thrown to the waiter of an invocation of a run that the runner did not start. */
const SKIPPED = Symbol('skipped');

function fromWire(e: WireError): BlockError {
  return new BlockError(e.code as BlockErrorCode, e.message);
}

/**
 * One concurrency lane of a deployed block, its isolate in a runner process: the node-side half of
 * a sandbox. Invocations and host calls cross the process boundary as messages; the host calls
 * (publish, kv, fetch, log, modules) are answered here, by the same {@link HostHandler} that checks
 * grants and limits, so a runner can do nothing the node does not do for it. When its runner
 * restarts, the lane loads its bundle again in the new process on its next invocation (a cold start).
 */
export class RemoteLane implements Lane, PlacedLane {
  readonly code: string;
  readonly limits: ResolvedLimits;
  readonly #host: HostHandler;
  readonly #options: SandboxOptions;
  readonly #pool: RunnerPool;
  readonly #runner: RunnerProcess;
  /** The sandbox's id in its runner, and the runner generation it was loaded in. */
  #sb = 0;
  #generation = -1;
  #infoSent: InvocationInfo | undefined;
  #live = new Map<number, Live>();
  #disposed = false;
  /** Cold starts of earlier runner generations, and the current one's (as its runner reports them). */
  #coldBefore = 0;
  #coldNow = 0;

  private constructor(pool: RunnerPool, code: string, limits: ResolvedLimits, host: HostHandler, options: SandboxOptions) {
    this.#pool = pool;
    this.#runner = pool.place();
    this.code = code;
    this.limits = limits;
    this.#host = host;
    this.#options = options;
    this.#runner.lanes.add(this);
  }

  /** Loads a bundle on a runner process and reads its definition (see `BlockSandbox.load`). */
  static async load(
    pool: RunnerPool,
    code: string,
    limits: ResolvedLimits,
    host: HostHandler,
    options: SandboxOptions = {},
  ): Promise<{ sandbox: RemoteLane; description: BlockDescription }> {
    const lane = new RemoteLane(pool, code, limits, host, options);
    try {
      return { sandbox: lane, description: await lane.#load() };
    } catch (err) {
      lane.dispose();
      throw err;
    }
  }

  get memoryMb(): number {
    return this.limits.memoryMb;
  }

  get coldStarts(): number {
    return this.#coldBefore + this.#coldNow;
  }

  /** The runner process this lane's isolate lives in (tests kill it). */
  get runner(): RunnerProcess {
    return this.#runner;
  }

  async #load(): Promise<BlockDescription> {
    // A runner process starting (or restarting) may take seconds on a loaded machine: a load waits
    // as long as the pool lets a process take to say ready before it is restarted.
    await this.#runner.ready(Math.max(this.limits.wallMs, this.#pool.unresponsiveMs));
    if (this.#disposed) throw new BlockError(BlockErrorCodes.STOPPED, 'the block was stopped');
    const sb = this.#pool.nextId();
    const generation = this.#runner.generation;
    const m = await this.#runner.load({ t: 'load', sb, code: this.code, limits: this.limits, options: this.#options });
    if (!m.ok) throw fromWire(m.error);
    if (this.#disposed) {
      this.#runner.send({ t: 'dispose', sb });
      throw new BlockError(BlockErrorCodes.STOPPED, 'the block was stopped');
    }
    this.#sb = sb;
    this.#generation = generation;
    this.#infoSent = undefined;
    this.#coldBefore += this.#coldNow;
    this.#coldNow = 1;
    return m.description;
  }

  async invoke(input: unknown, info: InvocationInfo, hops = 0): Promise<unknown> {
    const outcome = await (await this.invokeRun([{ input, hops }], info))[0];
    if (outcome === undefined || 'skipped' in outcome) throw new BlockError(BlockErrorCodes.STOPPED, 'the block was stopped');
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  async invokeRun(items: ReadonlyArray<RunItem>, info: InvocationInfo): Promise<Array<Promise<RunOutcome>>> {
    await this.#loaded();
    const sendInfo = this.#infoSent !== info;
    this.#infoSent = info;
    const wire: Array<{ inv: number; input: string; hops: number }> = [];
    const outcomes: Array<Promise<RunOutcome>> = [];
    for (const item of items) {
      const id = this.#pool.nextId();
      // origin stays on the node (lineage and trace context of the block's publishes): not sent.
      const inv: Invocation = { id, hops: item.hops, origin: item.origin, calls: 0, logs: 0, logsDropped: 0, done: false };
      wire.push({ inv: id, input: JSON.stringify(item.input), hops: item.hops });
      outcomes.push(
        new Promise<unknown>((resolve, reject) => {
          this.#live.set(id, { inv, resolve, reject, skip: () => reject(SKIPPED) });
          this.#runner.invocations.set(id, this);
        }).then(
          (value) => ({ ok: true as const, value }),
          (error: unknown) => (error === SKIPPED ? { skipped: true as const } : { ok: false as const, error }),
        ),
      );
    }
    const first = wire[0];
    const ids = wire.map((w) => w.inv);
    if (first !== undefined && wire.length === 1) {
      this.#runner.submit(sendInfo ? { t: 'invoke', sb: this.#sb, ...first, info } : { t: 'invoke', sb: this.#sb, ...first }, ids);
    } else if (first !== undefined) {
      this.#runner.submit(sendInfo ? { t: 'run', sb: this.#sb, items: wire, info } : { t: 'run', sb: this.#sb, items: wire }, ids);
    }
    return outcomes;
  }

  /** Makes sure the bundle is loaded in the runner's current process; throws STOPPED once disposed. */
  async #loaded(): Promise<void> {
    if (this.#disposed) throw new BlockError(BlockErrorCodes.STOPPED, 'the block was stopped');
    // Loaded in a runner process that has since exited: load again in its successor.
    if (this.#generation !== this.#runner.generation || this.#runner.pid === undefined) {
      await this.#runner.ready(this.limits.wallMs);
      if (this.#generation !== this.#runner.generation) await this.#load();
    }
    if (this.#disposed) throw new BlockError(BlockErrorCodes.STOPPED, 'the block was stopped');
  }

  onResult(m: Extract<FromRunner, { t: 'result' }> | Extract<FromRunner, { t: 'skipped' }>): void {
    const live = this.#live.get(m.inv);
    if (live === undefined) return;
    this.#live.delete(m.inv);
    live.inv.done = true;
    if (m.t === 'skipped') {
      live.skip?.();
      return;
    }
    if (m.coldStarts > 0) this.#coldNow = Math.max(this.#coldNow, m.coldStarts);
    if (m.ok) live.resolve(m.value);
    else live.reject(fromWire(m.error));
  }

  onCold(coldStarts: number): void {
    this.#coldNow = Math.max(this.#coldNow, coldStarts);
  }

  onCall(m: Extract<FromRunner, { t: 'call' }>): void {
    const inv = this.#live.get(m.inv)?.inv;
    // The answer goes to the process that asked, or nowhere: call ids are per process.
    const generation = this.#runner.generation;
    const answer = async (): Promise<void> => {
      if (inv === undefined || inv.done) throw new BlockError(BlockErrorCodes.HOST_REFUSED, 'the invocation has finished');
      const value = await this.#host(inv, m.op, m.args);
      this.#runner.answer(generation, { t: 'reply', call: m.call, ok: true, value: value === undefined ? null : value });
    };
    answer().catch((err: unknown) => {
      const code = err instanceof BlockError ? err.code : BlockErrorCodes.HOST_REFUSED;
      this.#runner.answer(generation, {
        t: 'reply',
        call: m.call,
        ok: false,
        error: { code, message: err instanceof Error ? err.message : String(err) },
      });
    });
  }

  onExit(errorFor: (inv: number) => BlockError): void {
    for (const [id, live] of this.#live) {
      this.#live.delete(id);
      live.inv.done = true;
      live.reject(errorFor(id));
    }
  }

  /**
   * Stops the lane for good: an invocation in flight fails at once with STOPPED (its runner cuts the
   * isolate off when the message arrives, and refuses the host calls it still makes).
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#runner.lanes.delete(this);
    for (const [id, live] of this.#live) {
      this.#live.delete(id);
      this.#runner.invocations.delete(id);
      live.inv.done = true;
      live.reject(new BlockError(BlockErrorCodes.STOPPED, 'the runner stopped while the invocation ran'));
    }
    if (this.#generation === this.#runner.generation) this.#runner.send({ t: 'dispose', sb: this.#sb });
  }
}
