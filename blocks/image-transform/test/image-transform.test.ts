import { eventually, startFakeCloudinary } from '@tributary/testkit';
import { parseSpec, SharpBackend } from '@tributary/images';
import { describe, expect, test } from 'vitest';
import { jobOf, resolveConfig, type ImageFailed, type ImageTransformed } from '../src/index.js';
import { deployWithImages, messages, waitFor } from './harness.js';

// Test images are made from a 2×2 PNG by the images package itself (sharp is its dependency, not ours).
const TINY_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAAEklEQVR4nGM4kWJ0IsWIAUIBACiuBXmimEdRAAAAAElFTkSuQmCC',
  'base64',
);
const sharpBackend = new SharpBackend();
async function jpeg(width: number, height: number): Promise<Buffer> {
  const out = await sharpBackend.render(
    TINY_PNG,
    parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'scale', width, height }], output: { format: 'jpeg' } }),
  );
  return out.data;
}

type Result = { name: string; url: string; key: string; width: number; height: number; format: string; bytes: number; backend: string };

describe('image-transform block (real sandbox, real images module)', () => {
  test('object.created → both presets made, stored and published with sizes and URLs', async () => {
    const { engine, images } = await deployWithImages();
    const info = await images.store.put('uploads/p1', await jpeg(2000, 1500), 'image/jpeg');
    await engine.append({
      channel: '$objects.created',
      payload: JSON.stringify({
        type: 'object.created',
        key: 'uploads/p1',
        contentType: 'image/jpeg',
        bytes: info.bytes,
        etag: info.etag,
        url: '/v1/blobs/uploads/p1',
      }),
    });
    const [done] = await waitFor<ImageTransformed>(engine, 'images.results');
    expect(done?.type).toBe('image.transformed');
    expect(done?.key).toBe('uploads/p1');
    const results = done?.results as Result[];
    expect(results.map((r) => [r.name, r.width, r.height, r.format, r.backend])).toEqual([
      ['thumb', 320, 320, 'jpeg', 'sharp'],
      ['large', 1280, 960, 'webp', 'sharp'],
    ]);
    for (const r of results) {
      expect(r.url).toBe(`/v1/blobs/${r.key}`);
      const stored = await images.store.get(r.key);
      const m = await sharpBackend.probe(stored!.data);
      expect([m.width, m.height, m.format, stored!.info.bytes]).toEqual([r.width, r.height, r.format, r.bytes]);
    }
  });

  test('explicit requests: a preset subset, an inline spec, and an id echoed back', async () => {
    const { engine, images } = await deployWithImages();
    await images.store.put('uploads/p2', await jpeg(800, 600), 'image/jpeg');
    await engine.append({
      channel: 'images.requests',
      payload: JSON.stringify({
        id: 'req-1',
        key: 'uploads/p2',
        presets: ['thumb'],
        spec: { v: 1, steps: [{ op: 'rotate', angle: 90 }], output: { format: 'png' } },
      }),
    });
    const [done] = await waitFor<ImageTransformed>(engine, 'images.results');
    expect(done?.id).toBe('req-1');
    expect((done?.results as Result[]).map((r) => [r.name, r.width, r.height, r.format])).toEqual([
      ['thumb', 320, 320, 'jpeg'],
      ['custom', 600, 800, 'png'],
    ]);
  });

  test('typed error events: corrupt input, missing object, bad spec, unknown preset', async () => {
    const { engine, images } = await deployWithImages();
    const full = await jpeg(256, 256);
    await images.store.put('uploads/broken', full.subarray(0, full.length / 2), 'image/jpeg');
    const req = (data: unknown) => engine.append({ channel: 'images.requests', payload: JSON.stringify(data) });
    await req({ id: 'a', key: 'uploads/broken' });
    await req({ id: 'b', key: 'uploads/missing' });
    await req({ id: 'c', key: 'uploads/broken', spec: { v: 1, steps: [{ op: 'explode' }] } });
    await req({ id: 'd', key: 'uploads/broken', presets: ['nope'] });
    await req({ id: 'e' });
    const errors = await waitFor<ImageFailed>(engine, 'images.errors', 5);
    expect(Object.fromEntries(errors.map((e) => [e.id, e.error.code]))).toEqual({
      a: 'CORRUPT_INPUT',
      b: 'NOT_FOUND',
      c: 'INVALID_SPEC',
      d: 'INVALID_REQUEST',
      e: 'INVALID_REQUEST',
    });
    expect(await messages(engine, 'images.results')).toEqual([]);
  });

  test('ignores derived objects and non-images', async () => {
    const { engine, runner } = await deployWithImages();
    await engine.append({
      channel: '$objects.created',
      payload: JSON.stringify({ type: 'object.created', key: 'derived/x/uploads/p1.jpg', contentType: 'image/jpeg' }),
    });
    await engine.append({
      channel: '$objects.created',
      payload: JSON.stringify({ type: 'object.created', key: 'uploads/doc', contentType: 'application/pdf' }),
    });
    await eventually(() => (runner.list()[0]?.stats.invocations ?? 0) >= 2, { message: 'two invocations', timeoutMs: 10_000 });
    expect(runner.list()[0]?.stats.invocations).toBe(2);
    expect(await messages(engine, 'images.results')).toEqual([]);
    expect(await messages(engine, 'images.errors')).toEqual([]);
  });

  test('the same block on the Cloudinary backend (fake) publishes Cloudinary URLs', async () => {
    const fake = await startFakeCloudinary();
    try {
      const { engine, images } = await deployWithImages({ images: { cloudinary: fake.cloudinaryUrl } });
      await images.store.put('uploads/c1', await jpeg(1600, 1200), 'image/jpeg');
      await engine.append({
        channel: '$objects.created',
        payload: JSON.stringify({ type: 'object.created', key: 'uploads/c1', contentType: 'image/jpeg' }),
      });
      const [done] = await waitFor<ImageTransformed>(engine, 'images.results');
      const results = done?.results as Result[];
      expect(results.map((r) => [r.name, r.width, r.height, r.format, r.backend])).toEqual([
        ['thumb', 320, 320, 'jpeg', 'cloudinary'],
        ['large', 1280, 960, 'webp', 'cloudinary'],
      ]);
      expect(results[0]?.url.startsWith(`${fake.url}/${fake.cloudName}/image/upload/c_fill,g_auto,h_320,w_320/f_jpg,q_80/`)).toBe(true);
      expect(fake.uploads).toHaveLength(1);
      // A source the limits refuse is an error event, and is never sent to Cloudinary.
      await images.store.put('uploads/c2', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'), 'image/png');
      await engine.append({
        channel: '$objects.created',
        payload: JSON.stringify({ type: 'object.created', key: 'uploads/c2', contentType: 'image/png' }),
      });
      const [failed] = await waitFor<ImageFailed>(engine, 'images.errors');
      expect([failed?.key, failed?.error.code]).toEqual(['uploads/c2', 'UNSUPPORTED_FORMAT']);
      expect(fake.uploads).toHaveLength(1);
      expect(fake.rejected).toEqual([]);
    } finally {
      await fake.stop();
    }
  });
});

describe('pure helpers', () => {
  const cfg = resolveConfig({ presets: { a: { v: 1 } } });
  test('config validation names the field', () => {
    expect(() => resolveConfig({ output: 'alerts.x' })).toThrow(/config\.output/);
    expect(() => resolveConfig({ presets: [] })).toThrow(/config\.presets/);
  });
  test('jobs', () => {
    expect(
      jobOf({ channel: '$objects.created', data: { type: 'object.created', key: 'uploads/a', contentType: 'image/png' } }, cfg),
    ).toEqual({ key: 'uploads/a', specs: { a: { v: 1 } } });
    expect(jobOf({ channel: '$objects.created', data: 'x' }, cfg)).toHaveProperty('skip');
    expect(jobOf({ channel: 'images.requests', data: { key: 'uploads/a', presets: ['b'] } }, cfg)).toHaveProperty('invalid');
  });
});
