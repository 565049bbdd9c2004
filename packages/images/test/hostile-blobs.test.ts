import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request, type ClientRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { MemoryEngine } from '@tributary/engine';
import type { HttpRoute } from '@tributary/server';
import { startS3, type S3Server } from '@tributary/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  createImages,
  parseSpec,
  resolveS3BlobStoreOptions,
  S3BlobStore,
  type Images,
  type ImagesOptions,
  type S3BlobStoreOptions,
} from '../src/index.js';
import * as fx from './fixtures.js';
import { serveRoutes } from './serve.js';

// Hostile reads of what the S3 store holds: byte ranges a client makes up, and the shared rendition
// cache after its object was damaged or replaced in the bucket. Served over real HTTP from the
// testkit's S3 server (s3rver behind its SigV4-checking front).

let s3: S3Server;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.stop();
});
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

let n = 0;
/** A node's image routes on the S3 store under `prefix`, served over HTTP (an admin caller). */
async function node(
  prefix: string,
  extra: Partial<ImagesOptions> = {},
  storeOptions: Partial<S3BlobStoreOptions> = {},
): Promise<{ images: Images; store: S3BlobStore; base: string }> {
  const engine = new MemoryEngine();
  const dataDir = await mkdtemp(join(tmpdir(), 'hostile-blobs-'));
  cleanups.push(async () => {
    await engine.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const store = new S3BlobStore({
    bucket: s3.bucket,
    prefix,
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    maxAttempts: 1,
    ...storeOptions,
  });
  const images = createImages({ engine, dataDir, store, secret: 's'.repeat(32), publish: async () => {}, ...extra });
  return { images, store, base: await serve(images.routes) };
}

async function serve(routes: HttpRoute[]): Promise<string> {
  const server = await serveRoutes(routes);
  cleanups.push(server.close);
  return server.url;
}

async function upload(base: string, data: Buffer): Promise<string> {
  const t = (await (await fetch(`${base}/v1/uploads`, { method: 'POST', body: '{}' })).json()) as { token: string };
  const r = await fetch(`${base}/v1/uploads/${t.token}`, { method: 'PUT', body: data });
  expect(r.status).toBe(201);
  return ((await r.json()) as { key: string }).key;
}

describe('byte ranges', () => {
  test('a range whose end is past 2^53 is the rest of the object (206), as any end past the last byte is', async () => {
    const prefix = `hb${n++}`;
    const { base } = await node(prefix);
    const jpeg = await fx.plainJpeg(64, 48);
    const key = await upload(base, jpeg);
    for (const range of ['bytes=10-99999999999999999999', 'bytes=10-9007199254740993', `bytes=10-${jpeg.length}`]) {
      const r = await fetch(`${base}/v1/blobs/${key}`, { headers: { range } });
      expect([range, r.status, r.headers.get('content-range')]).toEqual([range, 206, `bytes 10-${jpeg.length - 1}/${jpeg.length}`]);
      expect(Buffer.from(await r.arrayBuffer()).equals(jpeg.subarray(10))).toBe(true);
    }
  });
});

describe('slow readers', () => {
  test("sixty clients reading a blob slowly do not stop the node's other S3 calls: a HEAD, an upload and a render still answer", async () => {
    const prefix = `hb${n++}`;
    // A short connect timeout, so that a call left waiting for a socket fails within the test.
    const { images, store, base } = await node(prefix, {}, { connectTimeoutMs: 1000 });
    // Larger than the socket buffers on the way, so a reader that reads nothing holds its S3 GET open.
    const big = Buffer.alloc(8 << 20);
    big.set([0xff, 0xd8, 0xff, 0xe0]);
    await store.put('big/one', big, 'image/jpeg');
    const agent = new Agent({ maxSockets: Infinity });
    const readers: ClientRequest[] = [];
    cleanups.push(async () => {
      for (const r of readers) r.destroy();
      agent.destroy();
    });
    // More readers than the SDK's default pool (50 sockets per host), each pausing after the headers.
    await Promise.all(
      Array.from(
        { length: 60 },
        () =>
          new Promise<void>((resolve, reject) => {
            const r = request(`${base}/v1/blobs/big/one`, { agent }, (res) => {
              res.pause();
              resolve();
            });
            r.on('error', reject);
            r.end();
            readers.push(r);
          }),
      ),
    );
    // Before: each of these waited for one of the 50 sockets the readers held, until its connect
    // timeout — 502 "the S3 store did not answer", with the store idle.
    expect((await fetch(`${base}/v1/blobs/big/one`, { method: 'HEAD' })).status).toBe(200);
    const key = await upload(base, await fx.plainJpeg(64, 48));
    const url = images.signer.path(parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fit', width: 32 }], output: { format: 'png' } }), key);
    expect((await fetch(base + url)).status).toBe(200);
  });
});

describe('shared rendition cache', () => {
  test('a rendition cut short or replaced in the bucket is rendered again by the next node, never served under its ETag', async () => {
    const prefix = `hb${n++}`;
    const a = await node(prefix);
    const key = await upload(a.base, await fx.plainJpeg(640, 480));
    const url = a.images.signer.path(
      parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fit', width: 400 }], output: { format: 'jpeg' } }),
      key,
    );
    const first = await fetch(a.base + url);
    expect(first.headers.get('x-tributary-cache')).toBe('miss');
    const good = Buffer.from(await first.arrayBuffer());
    await a.images.otf.settled();
    const listed = await a.store.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${prefix}/renditions/` }));
    const renditionKey = (listed.Contents?.[0]?.Key as string).slice(prefix.length + 1);

    // Each damage is seen by a fresh node (its own empty first level), as node B would after it.
    const damages: Array<[string, Buffer]> = [
      ['cut in half (the JPEG header still reads)', good.subarray(0, good.length >> 1)],
      ['another JPEG of the same format', await fx.plainJpeg(400, 300)],
    ];
    for (const [what, bytes] of damages) {
      await a.store.put(renditionKey, bytes, 'image/jpeg');
      const b = await node(prefix);
      const r = await fetch(b.base + url);
      const body = Buffer.from(await r.arrayBuffer());
      // Before: 'hit-shared', the damaged bytes, under the rendition's ETag.
      expect([what, r.status, r.headers.get('x-tributary-cache'), body.equals(good)]).toEqual([what, 200, 'miss', true]);
      expect(r.headers.get('etag')).toBe(first.headers.get('etag'));
      expect(b.images.otf.stats.sharedErrors).toBe(1);
      await b.images.otf.settled();
    }
    // The render wrote a sound copy back: the next node serves it from the store.
    const c = await node(prefix);
    const again = await fetch(c.base + url);
    expect(again.headers.get('x-tributary-cache')).toBe('hit-shared');
    expect(Buffer.from(await again.arrayBuffer()).equals(good)).toBe(true);
  });
});

describe('sources over maxInputBytes', () => {
  test('are refused 422 from their size alone: the S3 store is never asked for their bytes (on-the-fly URL and block transform)', async () => {
    const prefix = `hb${n++}`;
    // Uploads may be larger than transforms take (originals kept as they came).
    const { images, base } = await node(prefix, { uploads: { maxBytes: 3 << 20 }, limits: { maxInputBytes: 1 << 20 } });
    const big = Buffer.alloc(2 << 20);
    big.set([0xff, 0xd8, 0xff, 0xe0]);
    const key = await upload(base, big);
    const reads = () => s3.requests.filter((r) => r.method === 'GET' && r.path.includes(`/${prefix}/${key}`));
    const url = images.signer.path(
      parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fit', width: 100 }], output: { format: 'webp' } }),
      key,
    );
    const r = await fetch(base + url);
    expect(r.status).toBe(422);
    expect(await r.json()).toMatchObject({ error: { code: 'INPUT_TOO_LARGE' } });
    await expect(
      images.service.transform({ key, specs: { small: { v: 1, steps: [], output: { format: 'webp' } } } }),
    ).rejects.toMatchObject({
      code: 'INPUT_TOO_LARGE',
    });
    // Before: each fetched the 2 MiB whole into memory, then refused it.
    expect(reads()).toEqual([]);
  });
});

describe('the store options', () => {
  test('an endpoint or bucket S3 cannot use is refused when the options are checked, not by every request later', () => {
    // Before, these passed the check and every request failed "Invalid URL" (or the store refused
    // the bucket): a BACKEND_ERROR blaming the S3 store for a typo.
    for (const endpoint of [
      'http://127.0.0.1:99999',
      'http://exa mple:9000',
      'http://127.0.0.1:9000?region=x',
      'http://u:p@127.0.0.1:9000',
    ])
      expect(() => resolveS3BlobStoreOptions({ bucket: 'ok-bucket', endpoint })).toThrow(/^endpoint must be/);
    expect(() => resolveS3BlobStoreOptions({ bucket: 'ok-bucket', endpoint: 'http://u:secret-pw@127.0.0.1:9000' })).not.toThrow(
      /secret-pw/,
    );
    for (const bucket of ['ok..bucket', '192.168.0.1']) expect(() => resolveS3BlobStoreOptions({ bucket })).toThrow(/^bucket must be/);
    for (const endpoint of ['http://127.0.0.1:9000', 'https://minio.internal/', 'http://[::1]:9000'])
      expect(resolveS3BlobStoreOptions({ bucket: 'ok.bucket-1', endpoint }).endpoint).toBe(endpoint);
  });
});
