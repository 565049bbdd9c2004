import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryEngine } from '@tributary/engine';
import sharp from 'sharp';
import { afterEach, describe, expect, test } from 'vitest';
import {
  createImages,
  DiskBlobStore,
  DiskLruCache,
  encodeSpec,
  imageRoutes,
  MemoryBlobStore,
  OnTheFly,
  parseSpec,
  SharpBackend,
  UploadTokens,
  UrlSigner,
} from '../src/index.js';
import type { HttpRoute } from '@tributary/server';
import type { BlobStore } from '../src/blobs.js';
import * as fx from './fixtures.js';
import { serveRoutes } from './serve.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

const K1 = { id: 'k1', secret: 'a'.repeat(32) };
const K2 = { id: 'k2', secret: 'b'.repeat(32) };
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const thumbAuto = parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fill', width: 50, height: 40 }], output: { format: 'auto' } });

/** A plain HTTP server with the image routes, as the broker would mount them (anonymous caller). */
async function serve(routes: HttpRoute[]): Promise<string> {
  const server = await serveRoutes(routes, { admin: false, grants: {} });
  cleanups.push(server.close);
  return server.url;
}

async function setup(options: { keys?: UrlSigner; cacheBytes?: number } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'trib-otf-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const engine = new MemoryEngine();
  cleanups.push(() => engine.close());
  const store = new MemoryBlobStore();
  await store.put('uploads/photo', await fx.plainJpeg(400, 300), 'image/jpeg');
  const signer = options.keys ?? new UrlSigner([K1]);
  const cache = new DiskLruCache({ dir, maxBytes: options.cacheBytes ?? 10_000_000 });
  const otf = new OnTheFly({ store, renderer: new SharpBackend(), signer, cache });
  const base = await serve(imageRoutes({ store, tokens: new UploadTokens(engine.kv), engine, otf }));
  return { store, signer, cache, otf, base };
}

describe('signed URLs', () => {
  test('a signed URL serves the transform; a tampered one is BAD_SIGNATURE', async () => {
    const { signer, base } = await setup();
    const path = signer.path(thumbAuto, 'uploads/photo');
    expect(path).toMatch(/^\/v1\/images\/k1\.[A-Za-z0-9_-]{43}\/[A-Za-z0-9_-]+\/uploads\/photo$/);
    const ok = await fetch(base + path, { headers: { accept: 'image/webp,*/*' } });
    expect(ok.status).toBe(200);
    const other = parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fill', width: 4000, height: 4000 }], output: { format: 'png' } });
    const [, , , sig] = path.split('/');
    // Same signature, different spec or key; a flipped character; no key id.
    for (const bad of [
      `/v1/images/${sig}/${encodeSpec(other)}/uploads/photo`,
      `/v1/images/${sig}/${encodeSpec(thumbAuto)}/uploads/other`,
      `/v1/images/${sig!.slice(0, -1)}${sig!.endsWith('A') ? 'B' : 'A'}/${encodeSpec(thumbAuto)}/uploads/photo`,
      `/v1/images/${sig!.slice(3)}/${encodeSpec(thumbAuto)}/uploads/photo`,
      // The same 32 bytes spelled differently (a last character whose spare bits are set), and a
      // signature one character short or long: only the canonical spelling verifies.
      `/v1/images/${sig!.slice(0, -1)}${B64URL[B64URL.indexOf(sig!.at(-1)!) + 1]}/${encodeSpec(thumbAuto)}/uploads/photo`,
      `/v1/images/${sig!.slice(0, -1)}/${encodeSpec(thumbAuto)}/uploads/photo`,
      `/v1/images/${sig}A/${encodeSpec(thumbAuto)}/uploads/photo`,
    ]) {
      const res = await fetch(base + bad);
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ error: { code: 'BAD_SIGNATURE' } });
    }
  });

  test('key rotation: URLs signed with the old key still verify while it is listed', async () => {
    const old = new UrlSigner([K1]);
    const rotated = new UrlSigner([K2, K1]);
    const onlyNew = new UrlSigner([K2]);
    const enc = encodeSpec(thumbAuto);
    const oldSig = old.sign(enc, 'uploads/photo');
    expect(() => rotated.verify(oldSig, enc, 'uploads/photo')).not.toThrow();
    expect(rotated.sign(enc, 'uploads/photo')).toMatch(/^k2\./);
    expect(() => onlyNew.verify(oldSig, enc, 'uploads/photo')).toThrow(expect.objectContaining({ code: 'BAD_SIGNATURE' }));
    expect(() => new UrlSigner([{ id: 'k', secret: 'short' }])).toThrow(TypeError);
  });

  test('more distinct specs than OnTheFly keeps decoded each render their own size, before and after', async () => {
    const { signer, otf, store } = await setup();
    await store.put('uploads/tiny', await fx.plainJpeg(40, 30), 'image/jpeg');
    const widths = Array.from({ length: 300 }, (_, i) => 8 + i);
    const get = async (w: number) => {
      const spec = parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'scale', width: w }], output: { format: 'png' } });
      const enc = encodeSpec(spec);
      return otf.get(signer.sign(enc, 'uploads/tiny'), enc, 'uploads/tiny');
    };
    for (const w of widths) expect((await get(w)).width).toBe(w);
    // The first ones were dropped from the decoded specs since; asked again, they are still right.
    for (const w of widths.slice(0, 5)) expect(await get(w)).toMatchObject({ width: w, hit: true });
  });

  test('unknown objects are 404 NOT_FOUND', async () => {
    const { signer, base } = await setup();
    const res = await fetch(base + signer.path(thumbAuto, 'uploads/missing'));
    expect(res.status).toBe(404);
  });
});

describe('format negotiation', () => {
  test('auto picks AVIF, WebP or JPEG from Accept and says Vary: Accept', async () => {
    const { signer, base } = await setup();
    const url = base + signer.path(thumbAuto, 'uploads/photo');
    for (const [accept, type, format] of [
      ['image/avif,image/webp,image/*,*/*;q=0.8', 'image/avif', 'heif'],
      ['image/webp,*/*', 'image/webp', 'webp'],
      ['*/*', 'image/jpeg', 'jpeg'],
    ] as const) {
      const res = await fetch(url, { headers: { accept } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      expect(res.headers.get('vary')).toBe('Accept');
      const m = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
      expect([m.format, m.width, m.height]).toEqual([format, 50, 40]);
    }
  });

  test('auto keeps an animated GIF animated: animated WebP when accepted, else an animated GIF', async () => {
    const { signer, base, store } = await setup();
    await store.put('uploads/anim', await fx.animatedGif(3), 'image/gif');
    await store.put('uploads/still-gif', await fx.animatedGif(1), 'image/gif');
    const url = base + signer.path(thumbAuto, 'uploads/anim');
    for (const [accept, type, format] of [
      // A browser that takes AVIF and WebP: a still AVIF would show one frame of three.
      ['image/avif,image/webp,image/apng,image/*,*/*;q=0.8', 'image/webp', 'webp'],
      ['*/*', 'image/gif', 'gif'],
    ] as const) {
      const res = await fetch(url, { headers: { accept } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      const m = await sharp(Buffer.from(await res.arrayBuffer()), { animated: true }).metadata();
      expect([m.format, m.pages, m.width, m.pageHeight]).toEqual([format, 3, 50, 40]);
    }
    // A one-frame GIF is a still image: the best still format.
    const still = await fetch(base + signer.path(thumbAuto, 'uploads/still-gif'), { headers: { accept: 'image/avif,image/webp,*/*' } });
    expect(still.headers.get('content-type')).toBe('image/avif');
  });

  test('a fixed format has no Vary; ETag and If-None-Match give 304', async () => {
    const { signer, base } = await setup();
    const url =
      base +
      signer.path(parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'scale', width: 100 }], output: { format: 'png' } }), 'uploads/photo');
    const res = await fetch(url);
    expect(res.headers.get('vary')).toBeNull();
    expect(res.headers.get('cache-control')).toMatch(/max-age/);
    const etag = res.headers.get('etag') as string;
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    const again = await fetch(url, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });
});

describe('cache and single flight', () => {
  test('identical concurrent requests transform once; later ones hit the cache', async () => {
    const { signer, otf } = await setup();
    const enc = encodeSpec(thumbAuto);
    const sig = signer.sign(enc, 'uploads/photo');
    const all = await Promise.all(Array.from({ length: 8 }, () => otf.get(sig, enc, 'uploads/photo', 'image/webp')));
    expect(otf.stats.transforms).toBe(1);
    expect(otf.stats.joins).toBe(7);
    expect(new Set(all.map((r) => r.etag)).size).toBe(1);
    const hit = await otf.get(sig, enc, 'uploads/photo', 'image/webp');
    expect(hit.hit).toBe(true);
    expect(otf.stats.transforms).toBe(1);
    // A different negotiated format is a different entry.
    await otf.get(sig, enc, 'uploads/photo', '*/*');
    expect(otf.stats.transforms).toBe(2);
  });

  test('a changed source object is transformed again (the cache key has its ETag)', async () => {
    const { signer, otf, store } = await setup();
    const enc = encodeSpec(thumbAuto);
    const sig = signer.sign(enc, 'uploads/photo');
    await otf.get(sig, enc, 'uploads/photo');
    await store.put('uploads/photo', await fx.plainJpeg(300, 300), 'image/jpeg');
    await otf.get(sig, enc, 'uploads/photo');
    expect(otf.stats.transforms).toBe(2);
  });

  // 64 KiB (the default): these entries are written synchronously; 0: through the thread pool.
  test.each([65_536, 0])(
    'the disk cache serves an entry from the moment it is set, and leaves no evicted file behind (syncWriteMaxBytes %d)',
    async (syncWriteMaxBytes) => {
      const dir = await mkdtemp(join(tmpdir(), 'trib-lru-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const cache = new DiskLruCache({ dir, maxBytes: 1000, syncWriteMaxBytes });
      const entry = (n: number, fill: number) => ({
        data: Buffer.alloc(n, fill),
        contentType: 'image/png',
        format: 'png' as const,
        width: 1,
        height: 1,
        etag: '"x"',
      });
      const written = cache.set('a', entry(400, 7)); // not awaited: the answer does not wait for the disk
      expect((await cache.get('a'))?.data).toEqual(Buffer.alloc(400, 7));
      await written;
      expect((await cache.get('a'))?.data).toEqual(Buffer.alloc(400, 7)); // now from the file
      const writes = [cache.set('b', entry(400, 8)), cache.set('c', entry(400, 9)), cache.set('a', entry(300, 1))];
      await Promise.all(writes);
      // c evicted a (least recently used); the new a evicted b: c and a fit (700 bytes).
      expect(cache.keys()).toEqual(['c', 'a']);
      expect((await readdir(dir)).sort()).toEqual(['a.bin', 'c.bin']);
      expect((await cache.get('a'))?.data).toEqual(Buffer.alloc(300, 1));
    },
  );

  test('from a disk store, a source replaced under the same key renders anew (libvips reads the file, never a stale decode)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trib-otf-disk-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const store = new DiskBlobStore(join(dir, 'blobs'));
    const otf = new OnTheFly({
      store,
      renderer: new SharpBackend(),
      signer: new UrlSigner([K1]),
      cache: new DiskLruCache({ dir: join(dir, 'cache'), maxBytes: 1e7 }),
    });
    const fit = parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fit', width: 100 }], output: { format: 'png' } });
    const enc = encodeSpec(fit);
    const sig = new UrlSigner([K1]).sign(enc, 'uploads/swap');
    await store.put('uploads/swap', await fx.plainJpeg(400, 200), 'image/jpeg');
    expect(await otf.get(sig, enc, 'uploads/swap')).toMatchObject({ width: 100, height: 50, hit: false });
    await store.put('uploads/swap', await fx.plainJpeg(200, 400), 'image/jpeg');
    const again = await otf.get(sig, enc, 'uploads/swap');
    expect(again).toMatchObject({ width: 100, height: 200, hit: false });
    expect(await sharp(again.data).metadata()).toMatchObject({ width: 100, height: 200 });
  });

  test('the disk cache refuses a bad syncWriteMaxBytes by name', () => {
    expect(() => new DiskLruCache({ dir: tmpdir(), maxBytes: 1000, syncWriteMaxBytes: -1 })).toThrow(/syncWriteMaxBytes/);
  });

  test('the disk cache is bounded in bytes and evicts least recently used', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trib-lru-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const cache = new DiskLruCache({ dir, maxBytes: 1000 });
    const entry = (n: number) => ({
      data: Buffer.alloc(n, 1),
      contentType: 'image/png',
      format: 'png' as const,
      width: 1,
      height: 1,
      etag: '"x"',
    });
    await cache.set('a', entry(400));
    await cache.set('b', entry(400));
    expect(await cache.get('a')).toBeDefined(); // a is now the most recently used
    await cache.set('c', entry(400)); // 1200 > 1000: evicts b
    expect(cache.keys()).toEqual(['a', 'c']);
    expect(cache.bytes).toBe(800);
    expect(await cache.get('b')).toBeUndefined();
    await cache.set('big', entry(1001)); // larger than the bound: not cached, nothing evicted
    expect(cache.keys()).toEqual(['a', 'c']);
    await cache.set('d', entry(900)); // evicts a and c
    expect(cache.keys()).toEqual(['d']);
    expect(cache.bytes).toBe(900);
  });
});

describe('shared rendition cache (two nodes on one store)', () => {
  /** A node's on-the-fly part: its own LRU directory, the shared store, the same signing key. */
  async function nodeOn(store: BlobStore, options: { sharedCache?: boolean } = {}) {
    const dir = await mkdtemp(join(tmpdir(), 'trib-otf-node-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const otfOptions = {
      store,
      renderer: new SharpBackend(),
      signer: new UrlSigner([K1]),
      cache: new DiskLruCache({ dir, maxBytes: 1e7 }),
    };
    const otf = new OnTheFly({ ...otfOptions, ...options });
    const engine = new MemoryEngine();
    cleanups.push(() => engine.close());
    return { otf, otfOptions, base: await serve(imageRoutes({ store, tokens: new UploadTokens(engine.kv), engine, otf })) };
  }

  async function diskStore(): Promise<DiskBlobStore> {
    const dir = await mkdtemp(join(tmpdir(), 'trib-otf-shared-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const store = new DiskBlobStore(dir);
    await store.put('uploads/photo', await fx.plainJpeg(400, 300), 'image/jpeg');
    return store;
  }

  test('a URL rendered on node A is served by node B from the store, not rendered again', async () => {
    const store = await diskStore();
    const a = await nodeOn(store, { sharedCache: true });
    const b = await nodeOn(store, { sharedCache: true });
    const path = new UrlSigner([K1]).path(thumbAuto, 'uploads/photo');
    const accept = { accept: 'image/webp,*/*' };
    const first = await fetch(a.base + path, { headers: accept });
    expect(first.headers.get('x-tributary-cache')).toBe('miss');
    const bytes = Buffer.from(await first.arrayBuffer());
    await a.otf.settled(); // the shared copy is written behind the answer
    const fromB = await fetch(b.base + path, { headers: accept });
    expect(fromB.status).toBe(200);
    expect(fromB.headers.get('x-tributary-cache')).toBe('hit-shared');
    expect(fromB.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(fromB.headers.get('content-type')).toBe('image/webp');
    expect(Buffer.from(await fromB.arrayBuffer())).toEqual(bytes);
    expect((await fetch(b.base + path, { headers: accept })).headers.get('x-tributary-cache')).toBe('hit');
    expect([a.otf.stats.transforms, b.otf.stats.transforms, b.otf.stats.sharedHits]).toEqual([1, 0, 1]);
    // Another negotiated format is another rendition: B renders that one itself.
    expect((await fetch(b.base + path, { headers: { accept: '*/*' } })).headers.get('x-tributary-cache')).toBe('miss');
  });

  test('two nodes missing the same key at once both render; the store keeps one copy, the same bytes either answered', async () => {
    const store = await diskStore();
    const a = await nodeOn(store, { sharedCache: true });
    const b = await nodeOn(store, { sharedCache: true });
    const enc = encodeSpec(thumbAuto);
    const sig = new UrlSigner([K1]).sign(enc, 'uploads/photo');
    const [ra, rb] = await Promise.all([
      a.otf.get(sig, enc, 'uploads/photo', 'image/webp'),
      b.otf.get(sig, enc, 'uploads/photo', 'image/webp'),
    ]);
    expect([ra.cache, rb.cache]).toEqual(['miss', 'miss']);
    expect(ra.data).toEqual(rb.data);
    expect(ra.etag).toBe(rb.etag);
    await Promise.all([a.otf.settled(), b.otf.settled()]);
    expect(a.otf.stats.sharedWrites + b.otf.stats.sharedWrites).toBe(2); // last write wins, identical bytes
    expect(await readdir(join(store.root, 'data', 'renditions'))).toHaveLength(1);
    const c = await nodeOn(store, { sharedCache: true });
    const rc = await c.otf.get(sig, enc, 'uploads/photo', 'image/webp');
    expect([rc.cache, rc.width, rc.height, c.otf.stats.transforms]).toEqual(['hit-shared', 50, 40, 0]);
    expect(rc.data).toEqual(ra.data);
  });

  test('an animated rendition comes back from the store animated, with its frame size', async () => {
    const store = await diskStore();
    await store.put('uploads/anim', await fx.animatedGif(3), 'image/gif');
    const a = await nodeOn(store, { sharedCache: true });
    const b = await nodeOn(store, { sharedCache: true });
    const enc = encodeSpec(thumbAuto);
    const sig = new UrlSigner([K1]).sign(enc, 'uploads/anim');
    await a.otf.get(sig, enc, 'uploads/anim', 'image/avif,image/webp');
    await a.otf.settled();
    const rb = await b.otf.get(sig, enc, 'uploads/anim', 'image/avif,image/webp');
    expect([rb.cache, rb.format, rb.width, rb.height]).toEqual(['hit-shared', 'webp', 50, 40]);
    expect((await sharp(rb.data, { animated: true }).metadata()).pages).toBe(3);
  });

  test('on by default for a store without local files (an object store), off for the disk store', async () => {
    expect((await nodeOn(new MemoryBlobStore())).otf.sharedCache).toBe(true);
    expect((await nodeOn(await diskStore())).otf.sharedCache).toBe(false);
    expect((await nodeOn(await diskStore(), { sharedCache: true })).otf.sharedCache).toBe(true);
    // The same choice through createImages (startNode's images option).
    const dir = await mkdtemp(join(tmpdir(), 'trib-otf-create-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const engine = new MemoryEngine();
    cleanups.push(() => engine.close());
    expect(createImages({ engine, dataDir: dir, secret: 's'.repeat(32) }).otf.sharedCache).toBe(false);
    expect(createImages({ engine, dataDir: dir, secret: 's'.repeat(32), sharedCache: true }).otf.sharedCache).toBe(true);
    const { otfOptions } = await nodeOn(new MemoryBlobStore());
    expect(() => new OnTheFly({ ...otfOptions, sharedCache: 'yes' as unknown as boolean })).toThrow(/sharedCache/);
  });

  test('a store that fails under the shared cache costs a render, never the answer', async () => {
    const inner = new MemoryBlobStore();
    await inner.put('uploads/photo', await fx.plainJpeg(400, 300), 'image/jpeg');
    // The store answers sources but fails every rendition read and write (a bucket policy gone wrong).
    const failing: BlobStore = {
      put: (key, data, type) => (key.startsWith('renditions/') ? Promise.reject(new Error('AccessDenied')) : inner.put(key, data, type)),
      get: (key) => (key.startsWith('renditions/') ? Promise.reject(new Error('AccessDenied')) : inner.get(key)),
      head: (key) => inner.head(key),
      delete: (key) => inner.delete(key),
    };
    const a = await nodeOn(failing);
    const res = await fetch(a.base + new UrlSigner([K1]).path(thumbAuto, 'uploads/photo'), { headers: { accept: 'image/webp' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tributary-cache')).toBe('miss');
    await a.otf.settled();
    expect(a.otf.stats.sharedErrors).toBe(2); // the read before the render, the write after it
  });
});
