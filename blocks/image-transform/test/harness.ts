import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryEngine, type StreamEngine } from '@tributary/engine';
import { createImages, type Images, type ImagesOptions } from '@tributary/images';
import { BlockRunner, compileBlock, type BlockManifest, type CompiledBlock, type PublishFn } from '@tributary/runtime';
import { eventually } from '@tributary/testkit';
import { afterEach } from 'vitest';

// Runs this folder's block in the real sandbox (esbuild bundle, V8 isolate, consumer groups) on a
// memory engine, with the real images capability (disk blob store in a temp dir, sharp or a fake
// Cloudinary) as its `images` host module.

const BLOCK_DIR = fileURLToPath(new URL('..', import.meta.url));

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

let compiled: Promise<{ code: CompiledBlock; manifest: BlockManifest }> | undefined;
function loadBlock(): Promise<{ code: CompiledBlock; manifest: BlockManifest }> {
  compiled ??= (async () => {
    const manifest = JSON.parse(await readFile(`${BLOCK_DIR}/block.json`, 'utf8')) as BlockManifest;
    return { code: await compileBlock(`${BLOCK_DIR}/${manifest.entry ?? 'src/index.ts'}`), manifest };
  })();
  return compiled;
}

function enginePublish(engine: StreamEngine): PublishFn {
  return async (channel, data, o) => {
    const input: Parameters<StreamEngine['append']>[0] = { channel, payload: JSON.stringify(data), hops: o.hops };
    if (o.msgId !== undefined) input.msgId = o.msgId;
    return engine.append(input);
  };
}

/** The block deployed on a fresh engine with the images module; everything is closed after the test. */
export async function deployWithImages(options: { config?: Record<string, unknown>; images?: Partial<ImagesOptions> } = {}): Promise<{
  engine: StreamEngine;
  runner: BlockRunner;
  images: Images;
}> {
  const engine = new MemoryEngine();
  cleanups.push(() => engine.close());
  const dir = await mkdtemp(join(tmpdir(), 'trib-image-block-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const images = createImages({ engine, dataDir: dir, signingKeys: 'k'.repeat(32), ...options.images });
  const runner = new BlockRunner({
    engine,
    publish: enginePublish(engine),
    pollMs: 20,
    retry: { attempts: 2, baseMs: 10, maxMs: 20 },
    modules: { images: images.module },
  });
  cleanups.push(() => runner.close());
  const { code, manifest } = await loadBlock();
  await runner.deploy(code, { config: { ...manifest.config, ...options.config } as NonNullable<BlockManifest['config']> });
  return { engine, runner, images };
}

/** The data of every message stored on `channel`, oldest first. */
export async function messages<T = unknown>(engine: StreamEngine, channel: string): Promise<T[]> {
  const { entries } = await engine.read(channel, { limit: 10_000 });
  return entries.map((e) => JSON.parse(e.payload) as T);
}

/** Polls until `channel` holds at least `n` messages; returns them. */
export function waitFor<T = Record<string, unknown>>(engine: StreamEngine, channel: string, n = 1, timeoutMs = 15_000): Promise<T[]> {
  return eventually(
    async () => {
      const got = await messages<T>(engine, channel);
      return got.length >= n && got;
    },
    { message: `${n} messages on ${channel}`, timeoutMs },
  );
}
