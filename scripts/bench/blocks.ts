/**
 * Block benchmarks (runs in this process; blocks run in isolated-vm isolates):
 * (a) warm invocation of a trivial JSON transform through BlockSandbox.invoke and through the
 *     runner's before-publish interceptor, against a plain in-process function doing the same;
 * (b) cold start: BlockSandbox.load (new isolate + bootstrap + bundle + describe), and
 *     BlockRunner.deploy, which loads twice;
 * (c) end-to-end: N messages appended to a MemoryEngine, one after-publish block on one runner
 *     republishing each; time until every output exists.
 *
 * Run alone: node --import tsx scripts/bench/blocks.ts
 */
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MemoryEngine, type StreamEngine } from '@tributary/engine';
import { encodeEnvelope, type JsonValue } from '@tributary/protocol';
import { BlockRunner, compileBlock, resolveLimits, type CompiledBlock, type PublishFn } from '@tributary/runtime';
// BlockSandbox is internal to the runtime package (not exported): measured directly on purpose.
import { BlockSandbox, type InvocationInfo } from '../../packages/runtime/src/sandbox.js';
import { Histogram, median } from './lib/hist.js';

export const BLOCKS = {
  warmCalls: 20_000,
  warmup: 2_000,
  plainCalls: 1_000_000,
  coldStarts: 30,
  deploys: 10,
  e2eMessages: 5_000,
  e2eTimeoutMs: 60_000,
} as const;

export interface WarmResult {
  /** Mean µs per call over the whole loop (sequential awaits). */
  meanUs: number;
  p50Us: number;
  p99Us: number;
}

export interface BlocksResult {
  warm: {
    plain: { meanUs: number };
    plainJson: { meanUs: number };
    sandbox: WarmResult;
    interceptor: WarmResult;
    /** Diagnostics: the same transform called straight through isolated-vm, without the runtime. */
    ivmApplySync: { meanUs: number };
    ivmApplyPromise: { meanUs: number };
  };
  cold: { loadMedianMs: number; loadP90Ms: number; loadMinMs: number; deployMedianMs: number; compileMs: number; samples: number };
  e2e: { messages: number; seconds: number; msgsPerSec: number; complete: boolean; defaultRetentionOutputs: number };
}

const blockFile = (name: string): string => fileURLToPath(new URL(`./blocks/${name}`, import.meta.url));

/** The same transform as blocks/transform.ts, as a plain function: the limit. */
function transform(msg: { data: { text: string; n: number } }): { data: JsonValue } {
  const d = msg.data;
  return { data: { text: d.text.toUpperCase(), n: d.n * 2, ok: true } };
}

const input = (i: number) => ({ channel: 'bench.in.x', offset: i, epoch: 'e', time: 0, data: { text: 'hello block', n: i }, hops: 0 });

/** Appends straight to the engine, like the broker's publish path does for blocks. */
function enginePublish(engine: StreamEngine): PublishFn {
  return async (channel, data, o) => {
    const a: Parameters<StreamEngine['append']>[0] = { channel, payload: JSON.stringify(data), hops: o.hops };
    if (o.msgId !== undefined) a.msgId = o.msgId;
    // As the broker's Publisher stores it: lineage and trace context in the envelope's one field.
    if (o.lineage !== undefined || o.traceparent !== undefined) a.meta = encodeEnvelope({ lineage: o.lineage, traceparent: o.traceparent });
    return engine.append(a);
  };
}

async function timeCalls(n: number, call: (i: number) => Promise<unknown>): Promise<WarmResult> {
  for (let i = 0; i < BLOCKS.warmup; i++) await call(i);
  const h = new Histogram();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await call(i);
    h.record((performance.now() - s) * 1000);
  }
  const meanUs = ((performance.now() - t0) * 1000) / n;
  return { meanUs, p50Us: h.percentile(0.5), p99Us: h.percentile(0.99) };
}

function timePlain(n: number, fn: (i: number) => unknown): number {
  let sink = 0;
  for (let i = 0; i < 10_000; i++) sink += fn(i) === undefined ? 0 : 1;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) sink += fn(i) === undefined ? 0 : 1;
  const us = ((performance.now() - t0) * 1000) / n;
  if (sink === -1) console.log('unreachable');
  return us;
}

async function warm(compiled: CompiledBlock): Promise<BlocksResult['warm']> {
  const plain = { meanUs: timePlain(BLOCKS.plainCalls, (i) => transform(input(i))) };
  // What crossing any isolate boundary costs at least: the input and the result as JSON text.
  const plainJson = {
    meanUs: timePlain(BLOCKS.plainCalls / 10, (i) => JSON.parse(JSON.stringify(transform(JSON.parse(JSON.stringify(input(i))) as never)))),
  };

  const limits = resolveLimits(undefined, true);
  const { sandbox } = await BlockSandbox.load(compiled.code, limits, async () => null);
  const info: InvocationInfo = { name: 'bench-transform', version: compiled.version, config: {}, secrets: {} };
  let check: unknown;
  const sb = await timeCalls(BLOCKS.warmCalls, async (i) => (check = await sandbox.invoke(input(i), info)));
  sandbox.dispose();
  if (JSON.stringify(check) !== JSON.stringify(transform(input(BLOCKS.warmCalls - 1)))) {
    throw new Error(`the block returned ${JSON.stringify(check)}`);
  }

  const engine = new MemoryEngine();
  const runner = new BlockRunner({ engine, publish: enginePublish(engine) });
  await runner.deploy(compiled);
  const ic = await timeCalls(BLOCKS.warmCalls, (i) =>
    runner.interceptor.intercept({ channel: 'bench.in.x', data: { text: 'hello block', n: i } }),
  );
  await runner.close();
  await engine.close();
  const floor = await isolateFloor();
  return { plain, plainJson, sandbox: sb, interceptor: ic, ...floor };
}

/** The subset of isolated-vm used by {@link isolateFloor}. */
interface IvmReference {
  applySync(recv: undefined, args: unknown[], o: object): unknown;
  apply(recv: undefined, args: unknown[], o: object): Promise<unknown>;
}
interface Ivm {
  Isolate: new (o: { memoryLimit: number }) => {
    createContext(): Promise<{
      eval(code: string): Promise<unknown>;
      global: { get(k: string, o: { reference: true }): Promise<IvmReference> };
    }>;
    dispose(): void;
  };
}

/**
 * What one call into an isolate costs with no runtime around it: synchronously (applySync, runs on
 * this thread, as BlockSandbox calls) and asynchronously (apply with a promise result: a hop to
 * isolated-vm's thread pool and back, which BlockSandbox no longer makes). Shows what the runtime
 * saves per hop by staying on one thread.
 */
async function isolateFloor(): Promise<{ ivmApplySync: { meanUs: number }; ivmApplyPromise: { meanUs: number } }> {
  // isolated-vm is the runtime's dependency, not this package's: resolve it from there.
  const ivm = createRequire(new URL('../../packages/runtime/package.json', import.meta.url))('isolated-vm') as Ivm;
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  try {
    const ctx = await isolate.createContext();
    await ctx.eval(`globalThis.f = function (s) { const m = JSON.parse(s);
      return JSON.stringify({ data: { text: m.data.text.toUpperCase(), n: m.data.n * 2, ok: true } }); };
      globalThis.g = function (s) { return Promise.resolve().then(function () { return f(s); }); };`);
    const f = await ctx.global.get('f', { reference: true });
    const g = await ctx.global.get('g', { reference: true });
    const sync = await timeCalls(BLOCKS.warmCalls, async (i) =>
      f.applySync(undefined, [JSON.stringify(input(i))], { timeout: 100, arguments: { copy: true }, result: { copy: true } }),
    );
    const promise = await timeCalls(BLOCKS.warmCalls, (i) =>
      g.apply(undefined, [JSON.stringify(input(i))], { timeout: 100, arguments: { copy: true }, result: { promise: true, copy: true } }),
    );
    return { ivmApplySync: { meanUs: sync.meanUs }, ivmApplyPromise: { meanUs: promise.meanUs } };
  } finally {
    isolate.dispose();
  }
}

async function cold(compiled: CompiledBlock, compileMs: number): Promise<BlocksResult['cold']> {
  const limits = resolveLimits(undefined, true);
  const samples: number[] = [];
  // One untimed load first: the first isolate pays for loading isolated-vm's native parts.
  (await BlockSandbox.load(compiled.code, limits, async () => null)).sandbox.dispose();
  for (let i = 0; i < BLOCKS.coldStarts; i++) {
    const t0 = performance.now();
    const { sandbox } = await BlockSandbox.load(compiled.code, limits, async () => null);
    samples.push(performance.now() - t0);
    sandbox.dispose();
  }
  const deploys: number[] = [];
  for (let i = 0; i < BLOCKS.deploys; i++) {
    const engine = new MemoryEngine();
    const runner = new BlockRunner({ engine, publish: enginePublish(engine) });
    const t0 = performance.now();
    await runner.deploy(compiled);
    deploys.push(performance.now() - t0);
    await runner.close();
    await engine.close();
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    loadMedianMs: median(samples),
    loadP90Ms: sorted[Math.floor(sorted.length * 0.9)] ?? NaN,
    loadMinMs: sorted[0] ?? NaN,
    deployMedianMs: median(deploys),
    compileMs,
    samples: samples.length,
  };
}

/** Appends `n` messages and waits (bounded) until the block published all `n` outputs. */
async function relay(compiled: CompiledBlock, n: number, maxLength: number | undefined): Promise<{ seconds: number; outputs: number }> {
  const engine = new MemoryEngine(maxLength === undefined ? {} : { retention: { maxLength } });
  const runner = new BlockRunner({ engine, publish: enginePublish(engine) });
  try {
    await runner.deploy(compiled);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await engine.append({ channel: 'bench.e2e.in', payload: JSON.stringify({ text: 'hello block', n: i }) });
    const deadline = Date.now() + BLOCKS.e2eTimeoutMs;
    let outputs = 0;
    let lastProgress = Date.now();
    while (Date.now() < deadline) {
      const now = (await engine.state('bench.e2e.out')).last;
      if (now !== outputs) lastProgress = Date.now();
      outputs = now;
      if (outputs >= n || Date.now() - lastProgress > 2000) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    return { seconds: (performance.now() - t0) / 1000, outputs };
  } finally {
    await runner.close();
    await engine.close();
  }
}

export async function runBlocks(log: (s: string) => void = console.log): Promise<BlocksResult> {
  const t0 = performance.now();
  const transformBlock = await compileBlock(blockFile('transform.ts'));
  const compileMs = performance.now() - t0;
  const relayBlock = await compileBlock(blockFile('relay.ts'));

  log('blocks: warm invocation');
  const w = await warm(transformBlock);
  log(
    `  plain function ${w.plain.meanUs.toFixed(3)} µs, plain + JSON round trip ${w.plainJson.meanUs.toFixed(2)} µs, ` +
      `BlockSandbox.invoke ${w.sandbox.meanUs.toFixed(1)} µs (p50 ${w.sandbox.p50Us.toFixed(1)}, p99 ${w.sandbox.p99Us.toFixed(1)}), ` +
      `runner interceptor ${w.interceptor.meanUs.toFixed(1)} µs (p50 ${w.interceptor.p50Us.toFixed(1)}, p99 ${w.interceptor.p99Us.toFixed(1)}); ` +
      `isolated-vm alone: applySync ${w.ivmApplySync.meanUs.toFixed(1)} µs, apply+promise ${w.ivmApplyPromise.meanUs.toFixed(1)} µs`,
  );

  log('blocks: cold start');
  const c = await cold(transformBlock, compileMs);
  log(
    `  BlockSandbox.load median ${c.loadMedianMs.toFixed(2)} ms (min ${c.loadMinMs.toFixed(2)}, p90 ${c.loadP90Ms.toFixed(2)}, n=${c.samples}); ` +
      `BlockRunner.deploy median ${c.deployMedianMs.toFixed(2)} ms; esbuild compile ${compileMs.toFixed(0)} ms`,
  );

  log('blocks: end-to-end after-publish');
  const n = BLOCKS.e2eMessages;
  const e = await relay(relayBlock, n, n * 2);
  const dflt = await relay(relayBlock, n, undefined);
  log(
    `  ${e.outputs}/${n} outputs in ${e.seconds.toFixed(2)} s: ${Math.round(e.outputs / e.seconds)} msgs/s ` +
      `(with the default retention of 1000: ${dflt.outputs}/${n} outputs)`,
  );
  return {
    warm: w,
    cold: c,
    e2e: {
      messages: n,
      seconds: e.seconds,
      msgsPerSec: e.outputs / e.seconds,
      complete: e.outputs >= n,
      defaultRetentionOutputs: dflt.outputs,
    },
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await runBlocks(), null, 2));
}
