import type { BlockRequest, BlockResponse } from '@tributary/block';
import type { Entry, GroupEntry, StreamEngine } from '@tributary/engine';
import { depthExceeds, ErrorCodes, isSystemChannel, type JsonValue } from '@tributary/protocol';
import { nanoid } from 'nanoid';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { RuntimeMetrics } from './metrics.js';
import type { CompiledBlock } from './compile.js';
import { GroupConsumer, groupName, type RetryOptions } from './consumer.js';
import { DeployedBlock, type BlockInfo } from './deployed.js';
import { validateDescription, type ValidBlock } from './describe.js';
import { BlockError, BlockErrorCodes } from './errors.js';
import { createHostHandler, type BlockLogLine, type FetchLimits, type HostModule, type PublishFn } from './host.js';
import {
  DEFAULT_LOG_BUDGET,
  laneLimits,
  LOAD_LIMITS,
  LOG_LIMITS,
  MAX_REQUEST_RESULT_CHARS,
  MAX_RESULT_CHARS,
  resolveLimits,
  type LogBudget,
} from './limits.js';
import { LogRate } from './log-rate.js';
import { OverlayKv } from './overlay-kv.js';
import { PublishRate } from './publish-rate.js';
import { RemoteLane } from './process/lane.js';
import { beforePublishInterceptor } from './triggers/before-publish.js';
import { messageInput } from './triggers/input.js';
import { startInterval } from './triggers/interval.js';
import { RunnerPool, type RunnerPoolOptions, type RunnerProcess } from './process/pool.js';
import { copiedOut, type HostHandler } from './sandbox.js';

/** Options of {@link BlockRunner}. */
export interface RunnerOptions {
  engine: StreamEngine;
  /** Publishes for blocks (the broker's publish path, with admin rights: the runner checks grants). */
  publish: PublishFn;
  /**
   * This runner's consumer name in every group: unique among live runners (a runner starting under
   * a name takes over that name's unacked entries). @defaultValue a random id
   */
  consumer?: string;
  /** Secrets per block name. @defaultValue {} */
  secrets?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Capabilities offered through ctx.call (e.g. images). @defaultValue {} */
  modules?: Readonly<Record<string, HostModule>>;
  /** @defaultValue { attempts: 5, baseMs: 100, maxMs: 2000 } */
  retry?: Partial<RetryOptions>;
  /** @defaultValue 30_000 */
  claimIdleMs?: number;
  /** @defaultValue 250 */
  pollMs?: number;
  /** @defaultValue { timeoutMs: 5000, maxBytes: 1_048_576 } */
  fetch?: Partial<FetchLimits>;
  /** Where block log lines go besides `$logs.<block>`. */
  logger?: Logger;
  /** Prometheus registry for block metrics (invocations, errors, duration, DLQ depth). */
  metrics?: Registry;
  /** What one block may log per second on this runner. @defaultValue {@link DEFAULT_LOG_BUDGET} */
  logBudget?: Partial<LogBudget>;
  /**
   * The broker's max payload: the most a block's `ctx.publish` data (as JSON) and a non-request
   * block's result may be, checked inside the isolate in characters (never more than the bytes the
   * broker counts, so nothing the broker would take is refused; it still checks the bytes). Pass the
   * broker's `maxPayloadBytes`. @defaultValue {@link MAX_RESULT_CHARS} (the broker's default, 64 KiB)
   */
  maxPayloadBytes?: number;
  /**
   * The runner processes block isolates live in (docs/BLOCKS.md, Isolation): how many, and the
   * memory and liveness bounds they are restarted at. @defaultValue {} (see {@link RunnerPoolOptions})
   */
  runners?: RunnerPoolOptions;
}

/** A stored message handed to {@link BlockRunner.replay} (the fields a dead letter keeps). */
export interface ReplayMessage {
  channel: string;
  offset: number;
  epoch: string;
  time: number;
  data: JsonValue;
  msgId?: string;
  /** @defaultValue 0 */
  hops?: number;
}

/** Limits of the runner's own behaviour, resolved. */
const DEFAULT_RETRY: RetryOptions = { attempts: 5, baseMs: 100, maxMs: 2000 };

/**
 * Hosts blocks: loads versions into sandboxes, wires each trigger (a publish interceptor for
 * before-publish, consumer groups for after-publish, leases for intervals, a request handler), and
 * swaps versions atomically — a version that fails to load leaves the previous one running.
 */
export class BlockRunner {
  readonly consumer: string;
  readonly #o: Required<Omit<RunnerOptions, 'logger' | 'retry' | 'fetch' | 'metrics' | 'logBudget' | 'maxPayloadBytes' | 'runners'>> & {
    retry: RetryOptions;
    fetch: FetchLimits;
    logger: Logger | undefined;
    logBudget: LogBudget;
    maxPayloadBytes: number;
  };
  readonly #metrics: RuntimeMetrics | undefined;
  readonly #blocks = new Map<string, DeployedBlock>();
  readonly #consumers = new Map<string, GroupConsumer>();
  /** Stop functions of the interval triggers, by block name. */
  readonly #intervals = new Map<string, () => void>();
  /** Each block's log budget per second, by name (it outlives a redeploy). */
  readonly #logRates = new Map<string, LogRate>();
  /** Each block's publishes-per-second bucket, by name (it outlives a redeploy). */
  readonly #publishRates = new Map<string, PublishRate>();
  #closed = false;
  /** The processes block code runs in: never this one. */
  readonly pool: RunnerPool;

  constructor(options: RunnerOptions) {
    this.#o = {
      engine: options.engine,
      publish: options.publish,
      consumer: options.consumer ?? nanoid(8),
      secrets: options.secrets ?? {},
      modules: options.modules ?? {},
      retry: { ...DEFAULT_RETRY, ...options.retry },
      claimIdleMs: options.claimIdleMs ?? 30_000,
      pollMs: options.pollMs ?? 250,
      fetch: { timeoutMs: 5000, maxBytes: 1_048_576, ...options.fetch },
      logger: options.logger,
      logBudget: { ...DEFAULT_LOG_BUDGET, ...options.logBudget },
      maxPayloadBytes: options.maxPayloadBytes ?? MAX_RESULT_CHARS,
    };
    this.consumer = this.#o.consumer;
    this.#metrics =
      options.metrics === undefined ? undefined : new RuntimeMetrics(options.metrics, options.engine, () => [...this.#blocks.keys()]);
    this.pool = new RunnerPool(options.runners, {
      maxPayloadChars: this.#o.maxPayloadBytes,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
      onExit: (reason) => this.#metrics?.runnerExits.inc({ reason }),
      // What crossed out of an isolate, for the tests that check an oversized value stayed inside.
      onCopied: (chars) => {
        copiedOut.largest = Math.max(copiedOut.largest, chars);
      },
    });
    this.#metrics?.watchRunners(this.pool);
  }

  /**
   * Loads a bundle once to read and check what it declares, without running it; for an after-publish
   * block, also registers its consumer group, so every message appended from now on waits in the
   * group for the block, which may be deployed later (see `BlockNode.prepareDir`). Throws
   * what {@link deploy} would throw for a bundle that cannot load. Registering is idempotent: a group
   * that exists keeps its position.
   */
  async prepare(compiled: CompiledBlock): Promise<ValidBlock> {
    const def = await this.#describe(compiled);
    if (def.trigger.kind === 'afterPublish') await this.#o.engine.groups.register(groupName(def.name), def.trigger.patterns);
    return def;
  }

  async #describe(compiled: CompiledBlock): Promise<ValidBlock> {
    // Before the block's own limits are known: LOAD_LIMITS. Its lanes then load under its own.
    const probe = await RemoteLane.load(this.pool, compiled.code, LOAD_LIMITS, async () => {
      throw new BlockError(BlockErrorCodes.HOST_REFUSED, 'no host calls while loading');
    });
    probe.sandbox.dispose();
    return validateDescription(probe.description);
  }

  /**
   * Loads a compiled block and makes it live, replacing any running version of the same name.
   * Throws a BlockError (INVALID_BLOCK …) and keeps the old version when the new one cannot load.
   */
  async deploy(compiled: CompiledBlock, options: { config?: Record<string, JsonValue> } = {}): Promise<BlockInfo> {
    if (this.#closed) throw new BlockError(BlockErrorCodes.INVALID_BLOCK, 'runner is closed');
    checkConfig(options.config);
    // The same bundle with the same config already runs (a starting node loads its stored blocks,
    // then its folders: usually the same versions). Replacing it would cut an invocation in flight
    // short for nothing, and its message would be handled again.
    const config = JSON.stringify(options.config ?? {});
    const same = [...this.#blocks.values()].find(
      (b) => b.compiled.version === compiled.version && JSON.stringify(b.info.config) === config,
    );
    if (same !== undefined) return same.describe();
    // Load once with default limits to read the definition, then with the block's own limits.
    const def = await this.#describe(compiled);
    // memoryMb is the budget of all the lanes together: each lane's isolate gets its share.
    const limits = laneLimits(resolveLimits(def.limits, def.trigger.kind === 'beforePublish', def.concurrency), def.concurrency);
    const host: HostHandler = async (inv, op, args) => {
      const h = this.#hosts.get(next);
      if (h === undefined) throw new BlockError(BlockErrorCodes.HOST_REFUSED, 'block version was replaced');
      return h(inv, op, args);
    };
    const sandboxes: RemoteLane[] = [];
    // A request block's result is an HTTP response; every other result is at most a message.
    const payloadChars = this.#o.maxPayloadBytes;
    const resultChars = def.trigger.kind === 'request' ? MAX_REQUEST_RESULT_CHARS : payloadChars;
    try {
      for (let i = 0; i < def.concurrency; i++) {
        sandboxes.push((await RemoteLane.load(this.pool, compiled.code, limits, host, { resultChars, payloadChars })).sandbox);
      }
    } catch (err) {
      for (const sb of sandboxes) sb.dispose();
      throw err;
    }
    // The block's publish bucket outlives a redeploy (a new version does not get a fresh burst).
    let rate = this.#publishRates.get(def.name);
    if (rate === undefined) this.#publishRates.set(def.name, (rate = new PublishRate(limits.publishesPerSecond)));
    else rate.perSecond = limits.publishesPerSecond;
    const next = new DeployedBlock(def, compiled, sandboxes, options.config ?? {}, { ...(this.#o.secrets[def.name] ?? {}) }, this.#metrics);
    this.#hosts.set(
      next,
      createHostHandler({
        block: def.name,
        version: compiled.version,
        publish: this.#o.publish,
        publishes: def.publishes,
        kv: this.#o.engine.kv,
        fetchAllow: def.fetchAllow,
        fetchLimits: this.#o.fetch,
        log: (line, hops) => this.#log(line, hops),
        logsDropped: (dropped, hops) => this.#logsDropped(def.name, dropped, hops),
        admitPublish: () => rate.take(),
        secrets: next.info.secrets,
        modules: this.#o.modules,
      }),
    );
    const prev = this.#blocks.get(def.name);
    if (prev !== undefined && prev.def.trigger.kind !== def.trigger.kind) await this.#unwire(prev);
    this.#blocks.set(def.name, next);
    await this.#wire(next, prev);
    if (prev !== undefined) {
      this.#hosts.delete(prev);
      // Let an in-flight invocation of the old version finish before its isolate goes.
      void prev.whenIdle().finally(() => prev.dispose());
    }
    this.#o.logger?.info({ block: def.name, version: compiled.version, trigger: def.trigger }, 'block deployed');
    return next.describe();
  }

  readonly #hosts = new WeakMap<DeployedBlock, ReturnType<typeof createHostHandler>>();

  /**
   * Loads a version for a replay (`POST /v1/admin/replay`) without deploying it: one lane in the
   * runner processes under the block's own limits and secrets, no trigger wired, no stats or
   * metrics. Its publishes go to `publish` (the replay records them), its kv writes stay in memory
   * over the deployed block's kv ({@link OverlayKv}), its log lines are dropped and `ctx.call`
   * modules are refused (they may write: images). `ctx.fetch` works as deployed. Dispose it after.
   */
  async trial(compiled: CompiledBlock, config: Record<string, JsonValue>, publish: PublishFn): Promise<DeployedBlock> {
    if (this.#closed) throw new BlockError(BlockErrorCodes.INVALID_BLOCK, 'runner is closed');
    checkConfig(config);
    const def = await this.#describe(compiled);
    const limits = laneLimits(resolveLimits(def.limits, def.trigger.kind === 'beforePublish', 1), 1);
    const secrets = { ...(this.#o.secrets[def.name] ?? {}) };
    const rate = new PublishRate(limits.publishesPerSecond);
    const host = createHostHandler({
      block: def.name,
      version: compiled.version,
      publish,
      publishes: def.publishes,
      kv: new OverlayKv(this.#o.engine.kv),
      fetchAllow: def.fetchAllow,
      fetchLimits: this.#o.fetch,
      log: () => {},
      admitPublish: () => rate.take(),
      secrets,
      modules: {},
    });
    const payloadChars = this.#o.maxPayloadBytes;
    const { sandbox } = await RemoteLane.load(this.pool, compiled.code, limits, host, { resultChars: payloadChars, payloadChars });
    return new DeployedBlock({ ...def, concurrency: 1 }, compiled, [sandbox], config, secrets);
  }

  /**
   * Stops and forgets a block at once: an invocation in flight is cut off (STOPPED; its message stays
   * pending, not acked) rather than waited for, and its consumer takes no further message.
   */
  async remove(name: string): Promise<boolean> {
    const b = this.#blocks.get(name);
    if (b === undefined) return false;
    this.#blocks.delete(name);
    // Unwired first (the consumer marks itself stopped before its first await), then disposed: a
    // lane whose invocation is cut off sees the stop and leaves the message alone.
    const stopping = this.#unwire(b);
    b.dispose();
    await stopping;
    this.#logRates.get(name)?.close();
    this.#logRates.delete(name);
    this.#publishRates.delete(name);
    return true;
  }

  /** The runner processes hosting `name`'s lanes (one per lane; lanes spread over the pool). */
  processesOf(name: string): RunnerProcess[] {
    const b = this.#blocks.get(name);
    return b === undefined ? [] : b.sandboxes.map((s) => (s as RemoteLane).runner);
  }

  /** Every deployed block with its version and counters. */
  list(): BlockInfo[] {
    return [...this.#blocks.values()].map((b) => b.describe()).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The broker's before-publish hook (see {@link beforePublishInterceptor}). */
  readonly interceptor = beforePublishInterceptor(() => this.#blocks.values());

  /** Runs a request block; undefined when no such request block exists. */
  async handleRequest(name: string, req: BlockRequest): Promise<BlockResponse | undefined> {
    const b = this.#blocks.get(name);
    if (b === undefined || b.def.trigger.kind !== 'request') return undefined;
    const result = (await b.run(req, 0)) as BlockResponse | null;
    if (result === null || typeof result !== 'object' || Array.isArray(result)) {
      throw new BlockError(BlockErrorCodes.BAD_RESULT, `block ${name} must return { status?, headers?, body? }`, { block: name });
    }
    return result;
  }

  /**
   * Runs an after-publish block's handler once on `message` (a dead letter being replayed), with
   * the running version, outside its consumer group: no retry, no dead-lettering. Resolves false
   * when no after-publish block `name` runs here; a failure throws the invocation's BlockError.
   */
  async replay(name: string, message: ReplayMessage): Promise<boolean> {
    const b = this.#blocks.get(name);
    if (b === undefined || b.def.trigger.kind !== 'afterPublish') return false;
    try {
      // The replayed message is the parent of what the block publishes now, as it was the first time.
      await b.run(messageInput(message), message.hops ?? 0, { channel: message.channel, offset: message.offset, epoch: message.epoch });
    } catch (err) {
      if (err instanceof BlockError) throw err;
      throw new BlockError(BlockErrorCodes.HANDLER_ERROR, (err as Error).message, { block: name, cause: err });
    }
    return true;
  }

  /**
   * Notes an entry of a system channel the runtime reads (`$blocks.deployed`, `$dlq.<block>`) that
   * is not what the runtime writes there: logged with its position and a bounded excerpt, and counted
   * in `tributary_block_bad_notices_total{channel}` (`metricChannel` keeps the label bounded, e.g.
   * `$dlq.*`). The entry is then ignored by the caller.
   */
  reportBadEntry(metricChannel: string, problem: string, entry: Pick<Entry, 'channel' | 'offset' | 'epoch' | 'payload'>): void {
    this.#metrics?.badNotices.inc({ channel: metricChannel });
    this.#o.logger?.warn(
      { channel: entry.channel, offset: entry.offset, epoch: entry.epoch, problem, payload: entry.payload.slice(0, 200) },
      'ignored a malformed system-channel entry',
    );
  }

  /**
   * Stops every block. In-flight invocations are cut off (their isolates disposed) and their
   * messages left unacked, for another runner to reclaim — the same as if this process had died.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const stopping = [...this.#blocks.values()].map((b) => this.#unwire(b));
    for (const b of this.#blocks.values()) b.dispose();
    await Promise.allSettled(stopping);
    this.#blocks.clear();
    for (const r of this.#logRates.values()) r.close();
    this.#logRates.clear();
    await this.pool.close();
  }

  async #wire(b: DeployedBlock, prev: DeployedBlock | undefined): Promise<void> {
    const t = b.def.trigger;
    if (t.kind === 'afterPublish') {
      const existing = this.#consumers.get(b.name);
      if (existing !== undefined && prev?.def.trigger.kind === 'afterPublish' && prev.def.trigger.patterns.join() === t.patterns.join()) {
        existing.block = b;
        return;
      }
      if (existing !== undefined) await existing.stop();
      const groups = this.#o.engine.groups;
      const c = new GroupConsumer(b, {
        engine: this.#o.engine,
        groups,
        consumer: this.#o.consumer,
        retry: this.#o.retry,
        claimIdleMs: this.#o.claimIdleMs,
        pollMs: this.#o.pollMs,
        batch: 32,
        deadLetter: (blk, entry, err, attempts) => this.#deadLetter(blk, entry, err, attempts),
        trimmed: (blk, entry) => this.#trimmed(blk, entry),
        log: this.#o.logger,
      });
      this.#consumers.set(b.name, c);
      await c.start();
    } else if (t.kind === 'interval') {
      this.#intervals.get(b.name)?.();
      this.#intervals.set(
        b.name,
        startInterval(b, t.seconds, {
          kv: this.#o.engine.kv,
          consumer: this.consumer,
          current: () => this.#blocks.get(b.name),
          log: this.#o.logger,
        }),
      );
    }
  }

  async #unwire(b: DeployedBlock): Promise<void> {
    const c = this.#consumers.get(b.name);
    if (c !== undefined) {
      this.#consumers.delete(b.name);
      await c.stop();
    }
    this.#intervals.get(b.name)?.();
    this.#intervals.delete(b.name);
  }

  async #deadLetter(b: DeployedBlock, entry: GroupEntry, err: Error, attempts: number): Promise<void> {
    const error = { code: err instanceof BlockError ? err.code : 'HANDLER_ERROR', message: err.message };
    const record: Record<string, JsonValue> = {
      block: b.name,
      version: b.version,
      channel: entry.channel,
      offset: entry.offset,
      epoch: entry.epoch,
      time: entry.time,
      data: parseOr(entry.payload),
      error,
      attempts,
      failedAt: Date.now(),
    };
    if (entry.msgId !== undefined) record.msgId = entry.msgId;
    if (entry.hops !== undefined && entry.hops > 0) record.hops = entry.hops;
    // The msgId makes a dead-letter write retried after a crash land once.
    const msgId = `dlq:${entry.channel}:${entry.epoch}:${entry.offset}`;
    const hops = entry.hops ?? 0;
    try {
      // The failed invocation's hops + 1, like its publishes: a block triggered by dead letters is
      // one more hop, so a loop through $dlq channels ends at the hop limit.
      await this.#o.publish(`$dlq.${b.name}`, record, { hops: hops + 1, block: b.name, msgId });
    } catch (err) {
      if ((err as { code?: unknown }).code !== ErrorCodes.HOP_LIMIT) throw err;
      if (isSystemChannel(entry.channel)) {
        // The message came from a $logs or $dlq channel and is at the hop limit: the end of a loop
        // through system channels. Another dead letter would only go round again.
        b.noteDeadLetterDropped();
        this.#o.logger?.error(
          { block: b.name, channel: entry.channel, offset: entry.offset, hops, error },
          'dead letter dropped: a message from a system channel failed at the hop limit (a loop through $logs/$dlq)',
        );
        return;
      }
      // An ordinary message at the end of a chain as long as the hop limit (its publish was refused
      // with HOP_LIMIT): written at its own hop count, which the broker took once, so the failure
      // still ends in the dead-letter channel. A block on that channel runs at the limit, and its
      // own failure is then dropped above.
      await this.#o.publish(`$dlq.${b.name}`, record, { hops, block: b.name, msgId });
    }
    this.#o.logger?.warn({ block: b.name, channel: entry.channel, offset: entry.offset, error }, 'message dead-lettered');
  }

  /** Retention trimmed messages before the block read them: say so (stats and the block's log). */
  #trimmed(b: DeployedBlock, entry: GroupEntry): void {
    const n = entry.gapBefore ?? 0;
    b.noteSkipped(n);
    // The platform's own line: not held to the block's log budget.
    this.#writeLog(
      {
        block: b.name,
        version: b.version,
        level: 'error',
        message: `${n} message(s) on ${entry.channel} (offsets ${entry.offset - n}–${entry.offset - 1}) were trimmed by retention before this block read them`,
        fields: { channel: entry.channel, epoch: entry.epoch, from: entry.offset - n, to: entry.offset - 1 },
        time: Date.now(),
      },
      (entry.hops ?? 0) + 1,
    );
  }

  /** A block's log line, held to its budget per second (see {@link LogRate}). */
  #log(line: BlockLogLine, hops: number): void {
    const chars =
      line.message.length +
      (line.fields === undefined ? 0 : typeof line.fields === 'string' ? line.fields.length : JSON.stringify(line.fields).length);
    if (!this.#logRate(line.block).admit(chars, hops)) {
      this.#blocks.get(line.block)?.noteLogsDropped(1);
      return;
    }
    this.#writeLog(line, hops);
  }

  /** An invocation dropped `dropped` lines (past its own limits): one line says so, if the budget has room. */
  #logsDropped(block: string, dropped: number, hops: number): void {
    this.#blocks.get(block)?.noteLogsDropped(dropped);
    const line = this.#droppedLine(block, dropped, 'invocation');
    // Counted into the per-second report instead when this second's budget is spent.
    if (this.#logRate(block).admit(line.message.length + 40, hops, false)) this.#writeLog(line, hops);
    else this.#logRate(block).drop(dropped, hops);
  }

  #droppedLine(block: string, dropped: number, reason: 'invocation' | 'rate'): BlockLogLine {
    const b = this.#blocks.get(block);
    const why =
      reason === 'invocation'
        ? `over an invocation's ${LOG_LIMITS.linesPerInvocation} lines / ${LOG_LIMITS.charsPerInvocation} characters`
        : `over the block's ${this.#o.logBudget.linesPerSecond} lines / ${this.#o.logBudget.charsPerSecond} characters per second`;
    return {
      block,
      version: b?.version ?? '',
      level: 'warn',
      message: `${dropped} log lines dropped: ${why}`,
      fields: { dropped, reason },
      time: Date.now(),
    };
  }

  #logRate(block: string): LogRate {
    let r = this.#logRates.get(block);
    if (r === undefined) {
      r = new LogRate(this.#o.logBudget, (dropped, hops) => this.#writeLog(this.#droppedLine(block, dropped, 'rate'), hops));
      this.#logRates.set(block, r);
    }
    return r;
  }

  /**
   * Writes a line to the runner's logger and to `$logs.<block>`, with `hops` (the invocation's + 1):
   * a block triggered by log lines is one more hop, so a loop through log channels ends at the hop
   * limit. A line the hop limit refuses is in the runner's log only.
   */
  #writeLog(line: BlockLogLine, hops: number): void {
    this.#o.logger?.[line.level]({ block: line.block, version: line.version, fields: line.fields }, line.message);
    void this.#o.publish(`$logs.${line.block}`, line as unknown as JsonValue, { hops, block: line.block }).catch(() => {});
  }
}

/**
 * A stored payload as JSON, or the text itself when it is not JSON (only an engine client bypassing
 * the broker can store that): the dead letter must still be written, or the entry would be retried
 * forever.
 */
function parseOr(payload: string): JsonValue {
  try {
    return JSON.parse(payload) as JsonValue;
  } catch {
    return payload;
  }
}

/** How deep a block's config may nest (objects and arrays), ten times what a message may. */
export const MAX_CONFIG_DEPTH = 320;

/**
 * A config is JSON the operator sent; the runtime passes it to the runner processes with
 * JSON.stringify, whose recursion a config nested thousands deep overflows — in the node's process,
 * outside any request. Checked (iteratively) before anything else, so it is an INVALID_BLOCK.
 */
function checkConfig(config: unknown): void {
  if (config !== undefined && depthExceeds(config, MAX_CONFIG_DEPTH)) {
    throw new BlockError(BlockErrorCodes.INVALID_BLOCK, `config is nested deeper than ${MAX_CONFIG_DEPTH} levels`);
  }
}
