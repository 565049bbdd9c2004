import type { JsonValue } from '@tributary/protocol';
import type { CompiledBlock } from './compile.js';
import type { ValidBlock } from './describe.js';
import { BlockError, BlockErrorCodes } from './errors.js';
import { redact } from './host.js';
import type { RuntimeMetrics } from './metrics.js';
import { startInvocation, type InvocationSpan, type SourceMessage } from './lineage.js';
import type { InvocationInfo, Lane, RunItem, RunOutcome } from './sandbox.js';

/** One invocation through {@link Lane.invokeRun}, which carries an origin (`invoke` does not). */
async function invokeOne(lane: Lane, item: RunItem, info: InvocationInfo): Promise<unknown> {
  const outcome = await (await lane.invokeRun([item], info))[0];
  if (outcome === undefined || 'skipped' in outcome) throw new BlockError(BlockErrorCodes.STOPPED, 'the block was stopped');
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

/** Counters of one deployed block, for `list()`, the console and metrics. */
export interface BlockStats {
  invocations: number;
  errors: number;
  /** 99th percentile of the last 1000 invocation durations, ms. */
  p99Ms: number;
  coldStarts: number;
  /** Messages retention trimmed before this block read them (after-publish). */
  skipped: number;
  /** Log lines dropped: past the per-invocation limits or the per-second budget (docs/BLOCKS.md, Limits). */
  logLinesDropped: number;
  /**
   * Dead letters not written because they would have passed the hop limit: failures of messages that
   * came from a system channel (`$logs`, `$dlq`), at the end of a loop through them.
   */
  deadLettersDropped: number;
  lastError?: { code: string; message: string; time: number };
}

/** A block as the runner lists it. */
export interface BlockInfo {
  name: string;
  version: string;
  trigger: ValidBlock['trigger'];
  publishes: string[];
  deployedAt: number;
  stats: BlockStats;
}

const WINDOW = 1000;

/**
 * One loaded version of a block: its sandboxes (one per allowed concurrent invocation, each its own
 * isolate, so limits stay per invocation), what it declared, and its counters.
 */
export class DeployedBlock {
  readonly def: ValidBlock;
  readonly compiled: CompiledBlock;
  readonly sandboxes: readonly Lane[];
  #idle: Lane[];
  #waiting: Array<(s: Lane) => void> = [];
  #disposed = false;
  readonly info: InvocationInfo;
  readonly deployedAt = Date.now();
  #invocations = 0;
  #errors = 0;
  #skipped = 0;
  #logLinesDropped = 0;
  #deadLettersDropped = 0;
  /** The last WINDOW invocation times, ms, as a ring; `#p99` caches their 99th percentile until one more is recorded. */
  readonly #durations = new Float64Array(WINDOW);
  #recorded = 0;
  #p99: number | undefined = 0;
  #lastError: BlockStats['lastError'];

  readonly #metrics: RuntimeMetrics | undefined;

  constructor(
    def: ValidBlock,
    compiled: CompiledBlock,
    sandboxes: Lane[],
    config: Record<string, JsonValue>,
    secrets: Record<string, string>,
    metrics?: RuntimeMetrics,
  ) {
    this.#metrics = metrics;
    this.def = def;
    this.compiled = compiled;
    this.sandboxes = sandboxes;
    this.#idle = [...sandboxes];
    this.info = { name: def.name, version: compiled.version, config, secrets };
  }

  get name(): string {
    return this.def.name;
  }

  get version(): string {
    return this.compiled.version;
  }

  /**
   * Runs the handler once, counting and timing it. With `source` (the stored message being
   * handled), the invocation has a span and its publishes carry lineage and trace context.
   */
  async run(input: unknown, hops: number, source?: SourceMessage): Promise<unknown> {
    const t0 = performance.now();
    this.#invocations++;
    this.#metrics?.invocations.inc({ block: this.name });
    const sandbox = await this.#acquire();
    const span = source === undefined ? undefined : startInvocation(this.info, source);
    try {
      const value =
        span === undefined
          ? await sandbox.invoke(input, this.info, hops)
          : await invokeOne(sandbox, { input, hops, origin: span.origin }, this.info);
      span?.end();
      return value;
    } catch (err) {
      span?.end(err);
      throw this.#failed(err);
    } finally {
      this.#release(sandbox);
      const ms = performance.now() - t0;
      this.#metrics?.duration.observe({ block: this.name }, ms / 1000);
      this.#record(ms);
    }
  }

  /**
   * Runs the handler on `items` in order on one lane, each after the previous one succeeded (see
   * {@link Lane.invokeRun}): one promise per item, settling as it ends, counted and timed as it does.
   * Failures are outcomes, not rejections; after the first, the rest are `skipped`. Throws when the
   * run cannot start (the lane stopped, its runner unavailable): a failure of the first item.
   */
  async runMany(items: ReadonlyArray<{ input: unknown; hops: number; source?: SourceMessage }>): Promise<Array<Promise<RunOutcome>>> {
    const sandbox = await this.#acquire();
    let started: Array<Promise<RunOutcome>>;
    // A run is handed to the runner at once, so its spans start together (docs/OPERATIONS.md).
    const spans: Array<InvocationSpan | undefined> = items.map((i) =>
      i.source === undefined ? undefined : startInvocation(this.info, i.source),
    );
    try {
      started = await sandbox.invokeRun(
        items.map((i, n): RunItem => {
          const origin = spans[n]?.origin;
          return origin === undefined ? { input: i.input, hops: i.hops } : { input: i.input, hops: i.hops, origin };
        }),
        this.info,
      );
    } catch (err) {
      for (const s of spans) s?.end(err);
      this.#release(sandbox);
      this.#invocations++;
      this.#metrics?.invocations.inc({ block: this.name });
      throw this.#failed(err);
    }
    // Counted as each starts, as far as the node can tell: the first now, each next one when the one
    // before it succeeded (stats show an invocation in flight).
    const started_ = (): void => {
      this.#invocations++;
      this.#metrics?.invocations.inc({ block: this.name });
    };
    if (started.length > 0) started_();
    let last = performance.now();
    let stop = false;
    const outcomes = started.map((p, i) =>
      p.then((o): RunOutcome => {
        spans[i]?.end('ok' in o && !o.ok ? o.error : undefined);
        if (stop || 'skipped' in o) return { skipped: true };
        const now = performance.now();
        this.#metrics?.duration.observe({ block: this.name }, (now - last) / 1000);
        this.#record(now - last);
        last = now;
        if (!o.ok) {
          stop = true;
          return { ok: false, error: this.#failed(o.error) };
        }
        if (i + 1 < started.length) started_();
        return o;
      }),
    );
    void Promise.all(outcomes).finally(() => this.#release(sandbox));
    return outcomes;
  }

  /** Counts a failed invocation; the error with secrets redacted from its message. */
  #failed(err: unknown): Error {
    this.#errors++;
    // A block may put a secret in what it throws: the message reaches stats, dead letters and logs.
    const message = redact((err as Error).message, this.info.secrets);
    const code = err instanceof BlockError ? err.code : BlockErrorCodes.HANDLER_ERROR;
    this.#lastError = { code, message, time: Date.now() };
    this.#metrics?.errors.inc({ block: this.name, code });
    return message === (err as Error).message ? (err as Error) : new BlockError(code, message, { block: this.name });
  }

  #record(ms: number): void {
    this.#durations[this.#recorded % WINDOW] = ms;
    this.#recorded++;
    this.#p99 = undefined;
  }

  /**
   * The 99th percentile of the window, computed only when asked after something new was recorded:
   * the topology sampler lists every block each second, and sorting each idle block's window
   * anew cost ~60 µs per block (30 ms a second at 500 blocks).
   */
  #percentile99(): number {
    if (this.#p99 !== undefined) return this.#p99;
    const n = Math.min(this.#recorded, WINDOW);
    // A typed array sorts numerically, without a comparator call per comparison.
    const sorted = this.#durations.slice(0, n).sort();
    this.#p99 = n === 0 ? 0 : (sorted[Math.min(n - 1, Math.floor(n * 0.99))] as number);
    return this.#p99;
  }

  /** Counts messages retention trimmed before this block read them. */
  noteSkipped(n: number): void {
    this.#skipped += n;
  }

  /** Counts log lines dropped. */
  noteLogsDropped(n: number): void {
    this.#logLinesDropped += n;
  }

  /** Counts a dead letter dropped at the hop limit. */
  noteDeadLetterDropped(): void {
    this.#deadLettersDropped++;
  }

  /** Resolves once no invocation is running (all sandboxes idle). */
  async whenIdle(): Promise<void> {
    const held: Lane[] = [];
    while (held.length < this.sandboxes.length) held.push(await this.#acquire());
    for (const s of held) this.#release(s);
  }

  /**
   * Disposes every isolate of this version. Invocations waiting for a lane get one at once and fail
   * with STOPPED (a disposed sandbox never starts again), as do any that come later.
   */
  dispose(): void {
    this.#disposed = true;
    for (const s of this.sandboxes) s.dispose();
    const lane = this.sandboxes[0];
    if (lane !== undefined) for (const w of this.#waiting.splice(0)) w(lane);
  }

  #acquire(): Promise<Lane> {
    const s = this.#disposed ? this.sandboxes[0] : this.#idle.pop();
    if (s !== undefined) return Promise.resolve(s);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(s: Lane): void {
    if (this.#disposed) return;
    const next = this.#waiting.shift();
    if (next !== undefined) next(s);
    else this.#idle.push(s);
  }

  describe(): BlockInfo {
    const p99 = this.#percentile99();
    const stats: BlockStats = {
      invocations: this.#invocations,
      errors: this.#errors,
      p99Ms: Math.round(p99 * 1000) / 1000,
      coldStarts: this.sandboxes.reduce((n, s) => n + s.coldStarts, 0),
      skipped: this.#skipped,
      logLinesDropped: this.#logLinesDropped,
      deadLettersDropped: this.#deadLettersDropped,
    };
    if (this.#lastError !== undefined) stats.lastError = this.#lastError;
    return {
      name: this.name,
      version: this.version,
      trigger: this.def.trigger,
      publishes: this.def.publishes,
      deployedAt: this.deployedAt,
      stats,
    };
  }
}
