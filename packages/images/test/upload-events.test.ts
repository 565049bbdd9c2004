import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryEngine } from '@tributary/engine';
import type { JsonValue } from '@tributary/protocol';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { createImages } from '../src/index.js';
import type { HttpRoute } from '@tributary/server';
import type { PublishUploadEvent } from '../src/internal.js';
import * as fx from './fixtures.js';
import { serveRoutes } from './serve.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** The image routes on a plain HTTP server, as the broker mounts them (an admin caller). */
async function serve(routes: HttpRoute[]): Promise<string> {
  const server = await serveRoutes(routes);
  cleanups.push(server.close);
  return server.url;
}

/** createImages on a fresh engine and data dir; the engine's append is watched. */
async function images(publish?: PublishUploadEvent) {
  const engine = new MemoryEngine();
  const dataDir = await mkdtemp(join(tmpdir(), 'images-events-'));
  cleanups.push(async () => {
    await engine.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const append = vi.spyOn(engine, 'append');
  const i = createImages({ engine, dataDir, secret: 's'.repeat(32), ...(publish === undefined ? {} : { publish }) });
  return { engine, append, base: await serve(i.routes) };
}

/** Asks for a token and uploads a PNG with it, as a client does. */
async function upload(base: string): Promise<{ key: string; url: string }> {
  const t = (await (await fetch(`${base}/v1/uploads`, { method: 'POST' })).json()) as { uploadUrl: string };
  const res = await fetch(new URL(t.uploadUrl, base), {
    method: 'PUT',
    body: await fx.alphaPng(8, 8),
    headers: { 'content-type': 'image/png' },
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { key: string; url: string };
}

describe('object.created events', () => {
  test('with a publish function, the event goes through it with its msgId, not straight to the engine', async () => {
    const publish = vi.fn(async (_channel: string, _data: JsonValue, _options: { msgId: string }) => ({ offset: 1 }));
    const { append, base } = await images(publish);
    const { key, url } = await upload(base);
    expect(publish).toHaveBeenCalledTimes(1);
    expect(publish).toHaveBeenCalledWith(
      '$objects.created',
      {
        type: 'object.created',
        key,
        contentType: 'image/png',
        bytes: expect.any(Number),
        etag: expect.any(String),
        url,
        time: expect.any(Number),
      },
      { msgId: `object:${key}` },
    );
    expect(append).not.toHaveBeenCalled();
  });

  test('without one, the event is appended to the engine as JSON (the fallback)', async () => {
    const { append, base } = await images();
    const { key } = await upload(base);
    expect(append).toHaveBeenCalledTimes(1);
    const input = append.mock.calls[0]![0];
    expect(input).toMatchObject({ channel: '$objects.created', msgId: `object:${key}` });
    expect(JSON.parse(input.payload)).toMatchObject({ type: 'object.created', key, contentType: 'image/png' });
  });
});
