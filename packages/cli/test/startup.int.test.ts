import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryEngine, type Entry, type StreamEngine } from '@tributary/engine';
import { RedisEngine } from '@tributary/engine/redis';
import { parseSpec, SharpBackend } from '@tributary/images';
import { startRedis, type RedisServer } from '@tributary/testkit';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TributaryNode } from '@tributary/node';

// The window between the broker answering HTTP and its block folders running: an upload made then
// must still be transformed, and /readyz tells a load balancer to wait for the end of it.

const SECRET = 'startup-window-test-secret-0123456789abcdef';
// The repository's own blocks/ folder, as `pnpm start` loads it (image-transform among them).
const BLOCKS = fileURLToPath(new URL('../../../blocks', import.meta.url));
const TINY_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAAEklEQVR4nGM4kWJ0IsWIAUIBACiuBXmimEdRAAAAAElFTkSuQmCC',
  'base64',
);

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
const closing: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closing.length > 0) await closing.pop()?.();
});

const engines: Record<string, () => StreamEngine> = {
  memory: () => new MemoryEngine(),
  redis: () => new RedisEngine({ url: redis.url, keyPrefix: `w${Math.random().toString(36).slice(2, 8)}:` }),
};

/** Resolves with the first entry on `channels` whose data has `key`. */
async function outcomeFor(engine: StreamEngine, channels: string[], key: () => string | undefined): Promise<() => Promise<Entry>> {
  const seen: Entry[] = [];
  let wake: (() => void) | undefined;
  for (const ch of channels) {
    const f = await engine.follow(ch, (e) => {
      seen.push(e);
      wake?.();
    });
    closing.push(() => f.close());
  }
  return async () => {
    for (;;) {
      const hit = seen.find((e) => (JSON.parse(e.payload) as { key?: string }).key === key());
      if (hit !== undefined) return hit;
      await new Promise<void>((r) => (wake = r));
    }
  };
}

describe.each(Object.keys(engines))('startup window (%s engine)', (kind) => {
  it('an upload made after the broker listens but before the blocks load is transformed; /readyz says 503 then 200', async () => {
    const engine = (engines[kind] as () => StreamEngine)();
    closing.push(() => engine.close());
    const dataDir = await mkdtemp(join(tmpdir(), 'trib-startup-'));
    closing.push(() => rm(dataDir, { recursive: true, force: true }));
    const jpeg = (
      await new SharpBackend().render(
        TINY_PNG,
        parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'scale', width: 640, height: 480 }], output: { format: 'jpeg' } }),
      )
    ).data;

    let key: string | undefined;
    const outcome = await outcomeFor(engine, ['images.results', 'images.errors'], () => key);
    const during: { readyz?: { status: number; body: unknown }; put?: number } = {};
    const node: TributaryNode | undefined = await startNode({
      engine,
      auth: { secret: SECRET },
      port: 0,
      logger: pino({ level: 'silent' }),
      images: { dataDir },
      blockDirs: [BLOCKS],
      async onListening(broker) {
        const r = await fetch(`${broker.url}/readyz`);
        during.readyz = { status: r.status, body: await r.json() };
        const grant = await fetch(`${broker.url}/v1/uploads`, {
          method: 'POST',
          headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
          body: '{}',
        });
        const g = (await grant.json()) as { uploadUrl: string; key: string };
        key = g.key;
        during.put = (await fetch(broker.url + g.uploadUrl, { method: 'PUT', body: jpeg })).status;
      },
    });
    closing.push(() => (node as TributaryNode).close());

    expect(during.readyz).toEqual({ status: 503, body: { ready: false, node: expect.any(String), reason: expect.any(String) } });
    expect(during.put).toBe(201);
    const after = await fetch(`${node.broker.url}/readyz`);
    expect(after.status).toBe(200);
    expect(await after.json()).toEqual({ ready: true, node: expect.any(String) });

    const done = await outcome();
    expect(done.channel).toBe('images.results');
    const data = JSON.parse(done.payload) as { type: string; key: string; results: Array<{ name: string; width: number; height: number }> };
    expect(data.type).toBe('image.transformed');
    expect(data.results.map((r) => [r.name, r.width, r.height])).toEqual([
      ['thumb', 320, 320],
      ['large', 640, 480],
    ]);
  });
});
