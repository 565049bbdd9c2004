import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startFakeCloudinary, type FakeCloudinary } from '@tributary/testkit';
import {
  CloudinaryBackend,
  ImageService,
  MemoryBlobStore,
  parseCloudinaryUrl,
  parseSpec,
  SharpBackend,
  specKey,
  type ImageBackend,
} from '../src/index.js';
import * as fx from './fixtures.js';

// One suite over every ImageBackend, as the engines have one contract suite: ImageService does not
// know which backend it has, so whatever it promises must hold for each of them.

let fake: FakeCloudinary;
beforeAll(async () => {
  fake = await startFakeCloudinary();
});
afterAll(async () => {
  await fake.stop();
});

const thumb = parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fill', width: 32, height: 32 }], output: { format: 'jpeg' } });
const wide = parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fit', width: 100 }], output: { format: 'png' } });

const backends: Array<[string, () => ImageBackend]> = [
  ['sharp', () => new SharpBackend()],
  ['cloudinary', () => new CloudinaryBackend(parseCloudinaryUrl(fake.cloudinaryUrl))],
];

describe.each(backends)('ImageBackend contract: %s', (kind, make) => {
  async function service(): Promise<{ service: ImageService; store: MemoryBlobStore }> {
    const store = new MemoryBlobStore();
    await store.put('uploads/c1', await fx.plainJpeg(200, 100), 'image/jpeg');
    await store.put('uploads/svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'), 'image/svg+xml');
    return { store, service: new ImageService({ store, backend: make(), presets: { thumb }, inspector: new SharpBackend() }) };
  }

  test('one result per wanted version, in order, named, with its spec key and the backend kind', async () => {
    const { service: s } = await service();
    const out = await s.transform({ key: 'uploads/c1', presets: ['thumb'], specs: { wide } });
    expect(out.source).toEqual({ key: 'uploads/c1', url: '/v1/blobs/uploads/c1', contentType: 'image/jpeg', bytes: expect.any(Number) });
    expect(out.results.map((r) => [r.name, r.spec, r.width, r.height, r.format, r.backend])).toEqual([
      ['thumb', specKey(thumb), 32, 32, 'jpeg', kind],
      ['wide', specKey(wide), 100, 50, 'png', kind],
    ]);
    for (const r of out.results) expect(r.bytes).toBeGreaterThan(0);
  });

  test('an animated GIF stays animated as WebP, GIF and auto (which resolves to WebP), all its frames', async () => {
    const { service: s, store } = await service();
    await store.put('uploads/anim', await fx.animatedGif(3), 'image/gif');
    const steps = [{ op: 'resize', mode: 'fit', width: 30 }];
    const out = await s.transform({
      key: 'uploads/anim',
      specs: Object.fromEntries(['webp', 'gif', 'auto'].map((format) => [format, { v: 1, steps, output: { format } }])),
    });
    for (const r of out.results) {
      // sharp stores its outputs; Cloudinary's are fetched from its URLs.
      const bytes = kind === 'sharp' ? (await store.get(r.key))?.data : Buffer.from(await (await fetch(r.url)).arrayBuffer());
      const m = await sharp(bytes as Buffer, { animated: true }).metadata();
      expect([r.name, r.format, m.pages, m.width, m.pageHeight]).toEqual([r.name, r.name === 'gif' ? 'gif' : 'webp', 3, 30, 20]);
    }
  });

  test('a missing object is NOT_FOUND', async () => {
    const { service: s } = await service();
    expect(await s.outcome({ key: 'uploads/none', presets: ['thumb'] })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  test('a source that is not a decodable image is UNSUPPORTED_FORMAT', async () => {
    const { service: s } = await service();
    expect(await s.outcome({ key: 'uploads/svg', presets: ['thumb'] })).toMatchObject({ ok: false, error: { code: 'UNSUPPORTED_FORMAT' } });
  });
});
