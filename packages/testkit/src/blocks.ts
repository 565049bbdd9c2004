import { readFile } from 'node:fs/promises';
import { MemoryEngine, type StreamEngine } from '@tributary/engine';
import { BlockRunner, compileBlock, type BlockInfo, type BlockManifest, type CompiledBlock, type PublishFn } from '@tributary/runtime';
import { afterEach } from 'vitest';
import { eventually } from './eventually.js';

/** Helpers {@link blockHarness} returns for one block folder. */
export interface BlockHarnessKit {
  /** The block as `tributary start` would load it: block.json's entry, compiled once per file. */
  loadBlock(): Promise<{ code: CompiledBlock; manifest: BlockManifest }>;
  /** A fresh memory engine, closed after the test. */
  memoryEngine(): StreamEngine;
  /**
   * A runner on `engine` with the block deployed, its config being block.json's with `config` laid
   * over it (or `config` alone with `manifestConfig: false`); closed after the test (before the engine).
   */
  deployBlock(
    engine: StreamEngine,
    options?: { config?: Record<string, unknown>; manifestConfig?: boolean; consumer?: string; publish?: PublishFn },
  ): Promise<{ runner: BlockRunner; info: BlockInfo }>;
  /** Appends a message as a client would (hops 0) and returns where it was stored. */
  publish(engine: StreamEngine, channel: string, data: unknown): ReturnType<StreamEngine['append']>;
  /** The data of every message stored on `channel`, oldest first. */
  messages<T = unknown>(engine: StreamEngine, channel: string): Promise<T[]>;
  /** Waits until the block ran `invocations` times across `runners` and left nothing unacked. */
  drained(engine: StreamEngine, runners: BlockRunner[], invocations: number): Promise<true>;
  /** Waits until `channel` holds exactly `n` messages and returns their data. */
  waitForMessages<T = unknown>(engine: StreamEngine, channel: string, n: number): Promise<T[]>;
}

/**
 * Test helpers for a block folder: runs its block in the real sandbox (esbuild bundle, V8 isolate,
 * consumer groups) on a memory engine. Call at the top of a test module with the folder, e.g.
 * `blockHarness(fileURLToPath(new URL('..', import.meta.url)))`; cleanups run after each test.
 */
export function blockHarness(blockDir: string): BlockHarnessKit {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()?.();
  });
  let compiled: Promise<{ code: CompiledBlock; manifest: BlockManifest }> | undefined;

  const kit: BlockHarnessKit = {
    loadBlock() {
      compiled ??= (async () => {
        const manifest = JSON.parse(await readFile(`${blockDir}/block.json`, 'utf8')) as BlockManifest;
        return { code: await compileBlock(`${blockDir}/${manifest.entry ?? 'src/index.ts'}`), manifest };
      })();
      return compiled;
    },
    memoryEngine() {
      const engine = new MemoryEngine();
      cleanups.push(() => engine.close());
      return engine;
    },
    async deployBlock(engine, options = {}) {
      const { code, manifest } = await kit.loadBlock();
      const runner = new BlockRunner({
        engine,
        publish: options.publish ?? enginePublish(engine),
        pollMs: 20,
        retry: { attempts: 3, baseMs: 10, maxMs: 50 },
        ...(options.consumer === undefined ? {} : { consumer: options.consumer }),
      });
      cleanups.push(() => runner.close());
      const config = { ...(options.manifestConfig === false ? {} : manifest.config), ...options.config } as BlockManifest['config'];
      const info = await runner.deploy(code, config === undefined ? {} : { config });
      return { runner, info };
    },
    publish: (engine, channel, data) => engine.append({ channel, payload: JSON.stringify(data) }),
    async messages<T>(engine: StreamEngine, channel: string) {
      const { entries } = await engine.read(channel, { limit: 10_000 });
      return entries.map((e) => JSON.parse(e.payload) as T);
    },
    drained(engine, runners, invocations) {
      return eventually(
        async () => {
          const infos = runners.flatMap((r) => r.list());
          const name = infos[0]?.name;
          if (name === undefined || infos.reduce((n, i) => n + i.stats.invocations, 0) < invocations) return false;
          // The runtime's consumer group of an after-publish block is `block.<name>`.
          return (await engine.groups?.pending(`block.${name}`)) === 0;
        },
        { message: `${invocations} invocations drained`, timeoutMs: 10_000 },
      );
    },
    waitForMessages<T>(engine: StreamEngine, channel: string, n: number) {
      return eventually(
        async () => {
          const got = await kit.messages<T>(engine, channel);
          return got.length === n ? got : undefined;
        },
        { message: `${n} messages on ${channel}`, timeoutMs: 10_000 },
      );
    },
  };
  return kit;
}

/** Appends block publishes straight to the engine (msgId dedup included), as the broker would. */
function enginePublish(engine: StreamEngine): PublishFn {
  return async (channel, data, o) => {
    const input: Parameters<StreamEngine['append']>[0] = { channel, payload: JSON.stringify(data), hops: o.hops };
    if (o.msgId !== undefined) input.msgId = o.msgId;
    return engine.append(input);
  };
}
