import { MemoryEngine } from '@tributary/engine';
import { compilePattern, type JsonValue } from '@tributary/protocol';
import { compileBlock } from './compile.js';
import { validateDescription, type NormalizedTrigger } from './describe.js';
import { BlockError, BlockErrorCodes } from './errors.js';
import { createHostHandler, type BlockLogLine, type HostModule } from './host.js';
import {
  laneLimits,
  LOAD_LIMITS,
  LOG_LIMITS,
  MAX_REQUEST_RESULT_CHARS,
  MAX_RESULT_CHARS,
  resolveLimits,
  type ResolvedLimits,
} from './limits.js';
import { PublishRate } from './publish-rate.js';
import { BlockSandbox } from './sandbox.js';

/** A canned answer for `ctx.fetch` in tests. */
export interface FakeResponse {
  status?: number;
  headers?: Record<string, string>;
  body?: string | JsonValue;
}

/** Options of {@link testBlock}. */
export interface TestBlockOptions {
  config?: Record<string, JsonValue>;
  secrets?: Record<string, string>;
  /** Initial kv contents. */
  kv?: Record<string, string>;
  /**
   * Answers `ctx.fetch` calls (after the block's allow-list check, as in production). Without it,
   * fetch is refused: unit tests never reach the network.
   */
  fetch?: (url: string, init: { method?: string; headers?: Record<string, string>; body?: string }) => FakeResponse | Promise<FakeResponse>;
  modules?: Record<string, HostModule>;
}

/** What one invocation did. */
export interface RunRecord {
  /** The handler's return value (null for none). */
  result: JsonValue;
  /** Set when the invocation failed: the same codes as in production (CPU_LIMIT, HOST_REFUSED …). */
  error?: { code: string; message: string };
  published: Array<{ channel: string; data: JsonValue; msgId?: string; hops: number }>;
  logs: Array<Pick<BlockLogLine, 'level' | 'message' | 'fields'>>;
  fetches: Array<{ url: string; method: string }>;
}

/** A block loaded for a unit test. */
export interface BlockHarness {
  name: string;
  version: string;
  trigger: NormalizedTrigger;
  limits: ResolvedLimits;
  /**
   * Runs the handler once. Message fields default sensibly (`channel` from the trigger when it is a
   * plain name, `offset` counting up, `hops: 0`); for request blocks pass a request, for interval
   * blocks `{ time }`.
   */
  run(input: Record<string, unknown>): Promise<RunRecord>;
  /** The block's kv namespace now. */
  kv(key: string): Promise<string | undefined>;
  close(): Promise<void>;
}

/**
 * Loads a block for unit tests in the production sandbox — same bundler, same isolate, same limits,
 * same host-module checks — with publish, kv, fetch and logs recorded instead of going to a broker.
 */
export async function testBlock(entry: string, options: TestBlockOptions = {}): Promise<BlockHarness> {
  const compiled = await compileBlock(entry);
  const probe = await BlockSandbox.load(compiled.code, LOAD_LIMITS, async () => null);
  probe.sandbox.dispose();
  const def = validateDescription(probe.description);
  // One isolate: the share of memoryMb one lane gets in production, and the same publish bucket.
  const limits = laneLimits(resolveLimits(def.limits, def.trigger.kind === 'beforePublish', def.concurrency), def.concurrency);
  const rate = new PublishRate(limits.publishesPerSecond);
  const engine = new MemoryEngine();
  const ns = `block:${def.name}`;
  for (const [k, v] of Object.entries(options.kv ?? {})) await engine.kv.set(ns, k, v);
  let current: RunRecord | undefined;
  const offsets = new Map<string, number>();
  const host = createHostHandler({
    block: def.name,
    version: compiled.version,
    publish: async (channel, data, o) => {
      const rec: RunRecord['published'][number] = { channel, data, hops: o.hops };
      if (o.msgId !== undefined) rec.msgId = o.msgId;
      current?.published.push(rec);
      const offset = (offsets.get(channel) ?? 0) + 1;
      offsets.set(channel, offset);
      return { offset };
    },
    publishes: def.publishes,
    kv: engine.kv,
    fetchAllow: def.fetchAllow,
    fetchLimits: { timeoutMs: 5000, maxBytes: 1 << 20 },
    log: (line) =>
      current?.logs.push(
        line.fields === undefined
          ? { level: line.level, message: line.message }
          : { level: line.level, message: line.message, fields: line.fields },
      ),
    // As the runner writes it (docs/BLOCKS.md, Limits): one line for what an invocation dropped.
    logsDropped: (dropped) =>
      current?.logs.push({
        level: 'warn',
        message: `${dropped} log lines dropped: over an invocation's ${
          LOG_LIMITS.linesPerInvocation
        } lines / ${LOG_LIMITS.charsPerInvocation} characters`,
        fields: { dropped, reason: 'invocation' },
      }),
    admitPublish: () => rate.take(),
    secrets: options.secrets ?? {},
    modules: options.modules ?? {},
  });
  const allowed = def.fetchAllow;
  const { sandbox } = await BlockSandbox.load(
    compiled.code,
    limits,
    async (inv, op, args) => {
      if (op !== 'fetch') return host(inv, op, args);
      const { url, init } = args as { url: string; init: { method?: string; headers?: Record<string, string>; body?: string } };
      const u = new URL(url);
      if (!allowed.some((h) => h === u.hostname || (h.startsWith('*.') && u.hostname.endsWith(h.slice(1))))) {
        throw new BlockError(BlockErrorCodes.HOST_REFUSED, `host ${u.hostname} is not on block ${def.name}'s fetch allow-list`);
      }
      current?.fetches.push({ url, method: init.method ?? 'GET' });
      if (options.fetch === undefined) throw new BlockError(BlockErrorCodes.HOST_REFUSED, 'no fetch responder given to testBlock');
      const r = await options.fetch(url, init);
      const text = typeof r.body === 'string' ? r.body : JSON.stringify(r.body ?? null);
      return { status: r.status ?? 200, headers: r.headers ?? {}, text };
    },
    { resultChars: def.trigger.kind === 'request' ? MAX_REQUEST_RESULT_CHARS : MAX_RESULT_CHARS },
  );
  const info = { name: def.name, version: compiled.version, config: options.config ?? {}, secrets: options.secrets ?? {} };
  const plain =
    def.trigger.kind === 'afterPublish' || def.trigger.kind === 'beforePublish'
      ? def.trigger.patterns.find((p) => compilePattern(p)(p))
      : undefined;
  let offset = 0;
  return {
    name: def.name,
    version: compiled.version,
    trigger: def.trigger,
    limits,
    async run(input) {
      const record: RunRecord = { result: null, published: [], logs: [], fetches: [] };
      current = record;
      const t = def.trigger.kind;
      const msg =
        t === 'afterPublish' || t === 'beforePublish'
          ? { channel: plain ?? 'test', offset: ++offset, epoch: 'test', time: Date.now(), hops: 0, ...input }
          : input;
      try {
        record.result = (await sandbox.invoke(msg, info, typeof msg.hops === 'number' ? msg.hops : 0)) as JsonValue;
      } catch (err) {
        record.error = { code: err instanceof BlockError ? err.code : 'HANDLER_ERROR', message: (err as Error).message };
      } finally {
        current = undefined;
      }
      return record;
    },
    kv: (key) => engine.kv.get(ns, key),
    async close() {
      sandbox.dispose();
      await engine.close();
    },
  };
}
