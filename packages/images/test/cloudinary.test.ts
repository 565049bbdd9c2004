import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startFakeCloudinary, stringToSign, type FakeCloudinary } from '@tributary/testkit';
import { CloudinaryBackend, ImageService, MemoryBlobStore, parseCloudinaryUrl, parseSpec, SharpBackend } from '../src/index.js';
import * as fx from './fixtures.js';

// Everything here runs against the test kit's fake Cloudinary (no network): the official SDK signs
// and sends the upload; the fake verifies the signature as Cloudinary documents it and really applies
// the eager transformations with sharp.

let fake: FakeCloudinary;
beforeAll(async () => {
  fake = await startFakeCloudinary();
});
afterAll(async () => {
  await fake.stop();
});

const thumb = parseSpec({
  v: 1,
  steps: [{ op: 'resize', mode: 'fill', width: 320, height: 320 }],
  output: { format: 'jpeg', quality: 80 },
});
const large = parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'limit', width: 1280 }], output: { format: 'webp' } });

describe('Cloudinary backend (against the fake)', () => {
  test('CLOUDINARY_URL parsing', () => {
    expect(parseCloudinaryUrl('cloudinary://123:abc@demo?upload_prefix=http%3A%2F%2F127.0.0.1%3A9&signature_algorithm=sha256')).toEqual({
      cloudName: 'demo',
      apiKey: '123',
      apiSecret: 'abc',
      uploadPrefix: 'http://127.0.0.1:9',
      signatureAlgorithm: 'sha256',
    });
    expect(() => parseCloudinaryUrl('https://demo')).toThrow(/cloudinary:\/\//);
    expect(() => parseCloudinaryUrl('cloudinary://123:ab%E0%A4@demo')).toThrow(/CLOUDINARY_URL: .*percent-encoding/);
  });

  test('signed upload with eager transformations maps to results with real sizes', async () => {
    const backend = new CloudinaryBackend(parseCloudinaryUrl(fake.cloudinaryUrl));
    const src = await fx.plainJpeg(2000, 1000);
    const before = fake.uploads.length;
    const results = await backend.upload(src, 'uploads/abc', [thumb, large]);
    expect(results.map((r) => [r.width, r.height, r.format, r.transformation])).toEqual([
      [320, 320, 'jpeg', 'c_fill,g_center,h_320,w_320/f_jpg,q_80'],
      [1280, 640, 'webp', 'c_limit,w_1280/f_webp'],
    ]);
    const upload = fake.uploads[before];
    expect(upload?.publicId).toBe('uploads/abc');
    expect(upload?.eager).toEqual(['c_fill,g_center,h_320,w_320/f_jpg,q_80', 'c_limit,w_1280/f_webp']);
    // The signature the SDK sent is the documented one, computed here independently of the fake:
    // every param but file/cloud_name/resource_type/api_key, sorted, k=v joined by &, secret appended, SHA-1.
    const { signature, api_key: _k, ...signed } = upload!.params;
    const documented = Object.keys(signed)
      .sort()
      .map((k) => `${k}=${String(signed[k])}`)
      .join('&');
    expect(documented).toContain('&public_id=uploads/abc&');
    expect(signature).toBe(
      createHash('sha1')
        .update(documented + fake.apiSecret)
        .digest('hex'),
    );
    expect(stringToSign(signed)).toBe(documented); // and the fake's verifier agrees with it
    expect(Object.keys(signed)).toEqual(expect.arrayContaining(['timestamp', 'public_id', 'eager']));
    // The URLs serve the transformed images.
    for (const r of results) {
      const res = await fetch(r.url);
      expect(res.status).toBe(200);
      const m = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
      expect([m.width, m.height]).toEqual([r.width, r.height]);
      expect(r.bytes).toBeGreaterThan(0);
    }
  });

  test("a wrong secret is refused with Cloudinary's 401 and becomes BACKEND_ERROR", async () => {
    const backend = new CloudinaryBackend({ ...parseCloudinaryUrl(fake.cloudinaryUrl), apiSecret: 'wrong-secret' });
    const rejectedBefore = fake.rejected.length;
    await expect(backend.upload(await fx.plainJpeg(64, 64), 'uploads/x', [thumb])).rejects.toMatchObject({
      code: 'BACKEND_ERROR',
      details: { status: 401 },
    });
    expect(fake.rejected[rejectedBefore]?.message).toMatch(/^Invalid Signature [0-9a-f]{40}\. String to sign - '/);
  });

  test('SHA-256 signatures when the account uses them', async () => {
    const fake256 = await startFakeCloudinary({ signatureAlgorithm: 'sha256' });
    try {
      const ok = new CloudinaryBackend(parseCloudinaryUrl(fake256.cloudinaryUrl));
      const [r] = await ok.upload(await fx.plainJpeg(400, 400), 'uploads/s256', [thumb]);
      expect([r?.width, r?.height]).toEqual([320, 320]);
      expect(fake256.uploads[0]?.params.signature).toMatch(/^[0-9a-f]{64}$/);
      const sha1 = new CloudinaryBackend({ ...parseCloudinaryUrl(fake256.cloudinaryUrl), signatureAlgorithm: 'sha1' });
      await expect(sha1.upload(await fx.plainJpeg(64, 64), 'uploads/s1', [thumb])).rejects.toMatchObject({ code: 'BACKEND_ERROR' });
    } finally {
      await fake256.stop();
    }
  });

  test('a corrupt image is CORRUPT_INPUT', async () => {
    const backend = new CloudinaryBackend(parseCloudinaryUrl(fake.cloudinaryUrl));
    await expect(backend.upload(fx.corruptJpeg(), 'uploads/bad', [thumb])).rejects.toMatchObject({ code: 'CORRUPT_INPUT' });
  });

  test('ImageService with the Cloudinary backend returns the same result message shape', async () => {
    const store = new MemoryBlobStore();
    await store.put('uploads/p1', await fx.exifRotatedJpeg(), 'image/jpeg');
    const service = new ImageService({ store, backend: new CloudinaryBackend(parseCloudinaryUrl(fake.cloudinaryUrl)), presets: { thumb } });
    const out = await service.transform({ key: 'uploads/p1', presets: ['thumb'], specs: { original: { v: 1 } } });
    expect(out.results.map((r) => ({ name: r.name, w: r.width, h: r.height, f: r.format, b: r.backend }))).toEqual([
      { name: 'thumb', w: 320, h: 320, f: 'jpeg', b: 'cloudinary' },
      // Cloudinary auto-orients: the EXIF-rotated 120×80 original is 80×120.
      { name: 'original', w: 80, h: 120, f: 'jpeg', b: 'cloudinary' },
    ]);
    expect(out.results[0]?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
  });

  test('sources over the image limits, or not images at all, are refused before anything is uploaded', async () => {
    const store = new MemoryBlobStore();
    await store.put('uploads/bomb', fx.pixelBombPng(), 'image/png');
    await store.put('uploads/anim-bomb', fx.animationBombGif(), 'image/gif');
    await store.put('uploads/svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'), 'image/svg+xml');
    const service = new ImageService({
      store,
      backend: new CloudinaryBackend(parseCloudinaryUrl(fake.cloudinaryUrl)),
      presets: { thumb, large },
      inspector: new SharpBackend(),
    });
    const before = fake.uploads.length + fake.rejected.length;
    expect(await service.outcome({ key: 'uploads/bomb', presets: ['thumb'] })).toMatchObject({
      ok: false,
      error: { code: 'INPUT_TOO_LARGE' },
    });
    // An animation bomb is one only where the animation is kept (WebP); as a JPEG, Cloudinary takes frame 1.
    expect(await service.outcome({ key: 'uploads/anim-bomb', presets: ['large'] })).toMatchObject({
      ok: false,
      error: { code: 'INPUT_TOO_LARGE' },
    });
    expect(await service.outcome({ key: 'uploads/svg', presets: ['thumb'] })).toMatchObject({
      ok: false,
      error: { code: 'UNSUPPORTED_FORMAT' },
    });
    expect(fake.uploads.length + fake.rejected.length).toBe(before);
  });

  test('an animated GIF stays animated as WebP (fl_awebp) and GIF; JPEG takes the first frame', async () => {
    const store = new MemoryBlobStore();
    await store.put('uploads/anim', await fx.animatedGif(3), 'image/gif');
    const service = new ImageService({
      store,
      backend: new CloudinaryBackend(parseCloudinaryUrl(fake.cloudinaryUrl)),
      inspector: new SharpBackend(),
    });
    const resize = [{ op: 'resize', mode: 'fit', width: 30 }];
    const out = await service.transform({
      key: 'uploads/anim',
      specs: {
        webp: { v: 1, steps: resize, output: { format: 'webp' } },
        gif: { v: 1, steps: resize, output: { format: 'gif' } },
        jpeg: { v: 1, steps: resize, output: { format: 'jpeg' } },
      },
    });
    expect(fake.uploads.at(-1)?.eager).toEqual(['c_fit,w_30/f_webp,fl_animated.awebp', 'c_fit,w_30/f_gif', 'c_fit,w_30/f_jpg']);
    const frames = [];
    for (const r of out.results) {
      const m = await sharp(Buffer.from(await (await fetch(r.url)).arrayBuffer()), { animated: true }).metadata();
      frames.push([r.name, m.format, m.pages ?? 1, m.width, m.pageHeight ?? m.height]);
    }
    expect(frames).toEqual([
      ['webp', 'webp', 3, 30, 20],
      ['gif', 'gif', 3, 30, 20],
      ['jpeg', 'jpeg', 1, 30, 20],
    ]);
  });

  test("over Cloudinary's 100 frames for synchronous eager transforms, an animated output is refused before upload, not truncated", async () => {
    const store = new MemoryBlobStore();
    await store.put('uploads/long', fx.animationBombGif(101, 8), 'image/gif');
    const service = new ImageService({
      store,
      backend: new CloudinaryBackend(parseCloudinaryUrl(fake.cloudinaryUrl)),
      inspector: new SharpBackend(),
    });
    const before = fake.uploads.length;
    const webp = await service.outcome({ key: 'uploads/long', specs: { a: { v: 1, output: { format: 'webp' } } } });
    expect(webp).toMatchObject({ ok: false, error: { code: 'INPUT_TOO_LARGE', message: expect.stringMatching(/101 frames.*100/) } });
    expect(fake.uploads.length).toBe(before);
    // A still output of it is the first frame only, which the limit does not concern.
    const jpeg = await service.transform({ key: 'uploads/long', specs: { a: { v: 1, output: { format: 'jpeg' } } } });
    expect(jpeg.results[0]).toMatchObject({ width: 8, height: 8, format: 'jpeg' });
  });

  test('the fake, like Cloudinary, truncates a synchronous animated eager result to 100 frames', async () => {
    const backend = new CloudinaryBackend(parseCloudinaryUrl(fake.cloudinaryUrl));
    const [r] = await backend.upload(fx.animationBombGif(101, 8), 'uploads/raw-long', [parseSpec({ v: 1, output: { format: 'gif' } })]);
    const m = await sharp(Buffer.from(await (await fetch(r!.url)).arrayBuffer()), { animated: true }).metadata();
    expect(m.pages).toBe(100);
  });
});
