import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createToken } from '@tributary/broker';
import { RedisEngine } from '@tributary/engine/redis';
import { parseSpec, S3BlobStore, SharpBackend } from '@tributary/images';
import { connectWs, startRedis, startS3, type RedisServer, type S3Server, type TestSocket } from '@tributary/testkit';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TributaryNode } from '../src/node.js';

// Two hosts as far as images go: two nodes, each with its own data folder, on one Redis (real
// redis-server) and one S3 server (the testkit's, on loopback). An upload through node A is
// transformed once by the image-transform block (whichever node's runner takes it), its results are
// served by node B from the object store, and an on-the-fly URL rendered by node A is served by node B
// from the shared rendition cache without a second render.

const SECRET = 'two-hosts-test-secret-0123456789abcdef';
const BLOCK = fileURLToPath(new URL('../../../blocks/image-transform', import.meta.url));

let redis: RedisServer;
let s3: S3Server;
const nodes: TributaryNode[] = [];
const dataDirs: string[] = [];
const cleanups: Array<() => Promise<unknown>> = [];
let a: TributaryNode;
let b: TributaryNode;

async function hostNode(keyPrefix: string): Promise<TributaryNode> {
  const dataDir = await mkdtemp(join(tmpdir(), 'trib-two-hosts-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  dataDirs.push(dataDir);
  const engine = new RedisEngine({ url: redis.url, keyPrefix });
  cleanups.push(() => engine.close());
  const store = new S3BlobStore({
    bucket: s3.bucket,
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  const node = await startNode({
    engine,
    auth: { secret: SECRET },
    port: 0,
    logger: pino({ level: 'silent' }),
    runners: { size: 1 },
    images: { dataDir, store, secret: SECRET },
  });
  nodes.push(node);
  return node;
}

beforeAll(async () => {
  [redis, s3] = await Promise.all([startRedis(), startS3()]);
  const keyPrefix = `th${Math.random().toString(36).slice(2, 8)}:`;
  a = await hostNode(keyPrefix);
  b = await hostNode(keyPrefix);
  // Deployed on A; B loads it from the engine, as every node on one Redis does.
  await a.blocks.deployFolder(BLOCK);
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(nodes.map((n) => n.close()));
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await Promise.allSettled([redis?.stop(), s3?.stop()]);
});

// This package does not depend on sharp: images' own backend makes and measures the test images.
const sharpBackend = new SharpBackend();
const TINY_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAAEklEQVR4nGM4kWJ0IsWIAUIBACiuBXmimEdRAAAAAElFTkSuQmCC',
  'base64',
);

async function photo(width: number, height: number): Promise<Buffer> {
  const spec = parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'scale', width, height }], output: { format: 'jpeg' } });
  return (await sharpBackend.render(TINY_PNG, spec)).data;
}

/** Uploads through a node's broker route (token, then PUT); the key. */
async function uploadThrough(node: TributaryNode, bytes: Buffer): Promise<string> {
  const token = await fetch(`${node.broker.url}/v1/uploads`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
    body: '{}',
  });
  expect(token.status).toBe(201);
  const { uploadUrl } = (await token.json()) as { uploadUrl: string };
  const put = await fetch(node.broker.url + uploadUrl, { method: 'PUT', headers: { 'content-type': 'image/jpeg' }, body: bytes });
  expect(put.status).toBe(201);
  return ((await put.json()) as { key: string }).key;
}

/**
 * Uploads straight to S3 through node A's presigned flow: a token for exactly these bytes, a PUT to
 * the store (the bytes never pass through a node), then the completion, which checks and commits.
 */
async function uploadDirect(node: TributaryNode, bytes: Buffer): Promise<string> {
  const token = await fetch(`${node.broker.url}/v1/uploads`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
    body: JSON.stringify({ direct: { bytes: bytes.length, contentType: 'image/jpeg' } }),
  });
  expect(token.status).toBe(201);
  const t = (await token.json()) as { uploadUrl: string; headers: Record<string, string>; completeUrl: string; direct: boolean };
  expect(t.direct).toBe(true);
  expect(t.uploadUrl.startsWith(s3.endpoint)).toBe(true);
  const put = await fetch(t.uploadUrl, { method: 'PUT', headers: t.headers, body: bytes });
  expect(put.status).toBe(200);
  const done = await fetch(t.completeUrl.startsWith('http') ? t.completeUrl : node.broker.url + t.completeUrl, { method: 'POST' });
  expect(done.status).toBe(201);
  return ((await done.json()) as { key: string }).key;
}

interface Transformed {
  key: string;
  results: Array<{ name: string; url: string; width: number; height: number; format: string; bytes: number }>;
}

describe('two nodes, two data folders, one Redis, one S3', () => {
  it('uploads through A, via the broker and straight to S3, are transformed once; B serves their results and originals from S3', async () => {
    const token = await createToken({ secret: SECRET, grants: { 'images.>': ['subscribe'] } });
    const sub: TestSocket = await connectWs(`${b.broker.wsUrl}?token=${token}`);
    cleanups.push(() => sub.close());
    expect((await sub.request({ type: 'subscribe', channel: 'images.results' })).type).toBe('subscribed');

    const keys = [
      await uploadThrough(a, await photo(640, 480)),
      await uploadThrough(a, await photo(400, 600)),
      await uploadDirect(a, await photo(600, 400)),
    ];
    for (const key of keys) await sub.next((f) => f.type === 'message' && (f.data as Transformed).key === key, 30_000);
    const results = sub.frames.filter((f) => f.type === 'message').map((f) => f.data as Transformed);
    // Both nodes run the block in one consumer group: each upload's results appear once.
    expect(keys.map((k) => results.filter((r) => r.key === k).length)).toEqual([1, 1, 1]);
    const direct = results.find((r) => r.key === keys[2]) as Transformed;
    expect(direct.results.map((r) => [r.name, r.width, r.height])).toEqual([
      ['thumb', 320, 320],
      ['large', 600, 400],
    ]);

    const first = results.find((r) => r.key === keys[0]) as Transformed;
    expect(first.results.map((r) => [r.name, r.width, r.height, r.format])).toEqual([
      ['thumb', 320, 320, 'jpeg'],
      ['large', 640, 480, 'webp'],
    ]);
    for (const r of first.results) {
      const res = await fetch(b.broker.url + r.url);
      expect(res.status).toBe(200);
      const m = await sharpBackend.probe(Buffer.from(await res.arrayBuffer()));
      expect([m.width, m.height, m.format]).toEqual([r.width, r.height, r.format]);
    }
    for (const key of keys) expect((await fetch(`${b.broker.url}/v1/blobs/${key}`)).status).toBe(200);
    // Neither node's data folder holds a blob (a disk store keeps data/ and meta/ there): the
    // bytes live in the object store.
    for (const dir of dataDirs) expect(await readdir(dir)).not.toContain('data');
  });

  it('a signed URL rendered on A is served by B from the shared cache, not rendered twice', async () => {
    const key = await uploadThrough(a, await photo(800, 600));
    const path = a.images!.signer.path(
      parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fit', width: 200 }], output: { format: 'auto' } }),
      key,
    );
    const accept = { accept: 'image/avif,image/webp,*/*' };
    const onA = await fetch(a.broker.url + path, { headers: accept });
    expect(onA.status).toBe(200);
    expect(onA.headers.get('x-tributary-cache')).toBe('miss');
    const bytes = Buffer.from(await onA.arrayBuffer());
    await a.images!.otf.settled(); // the shared copy is written behind A's answer

    const before = b.images!.otf.stats.transforms;
    const onB = await fetch(b.broker.url + path, { headers: accept });
    expect(onB.status).toBe(200);
    expect(onB.headers.get('x-tributary-cache')).toBe('hit-shared');
    expect(onB.headers.get('content-type')).toBe('image/avif');
    expect(onB.headers.get('etag')).toBe(onA.headers.get('etag'));
    expect(Buffer.from(await onB.arrayBuffer())).toEqual(bytes);
    expect(b.images!.otf.stats.transforms).toBe(before);
    // From then on, from B's own first level.
    expect((await fetch(b.broker.url + path, { headers: accept })).headers.get('x-tributary-cache')).toBe('hit');
    const m = await sharpBackend.probe(bytes);
    expect([m.width, m.height, m.format]).toEqual([200, 150, 'avif']);
  });

  it('A and B asked for the same new URL at once answer the same bytes and ETag, whoever rendered', async () => {
    const key = await uploadThrough(a, await photo(300, 300));
    const path = a.images!.signer.path(
      parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fill', width: 64, height: 64 }], output: { format: 'webp' } }),
      key,
    );
    // Both may miss and render (single flight is per node; the race is documented in docs/IMAGES.md),
    // or one may find the other's copy: either way a client cannot tell the answers apart.
    const [ra, rb] = await Promise.all([fetch(a.broker.url + path), fetch(b.broker.url + path)]);
    expect([ra.status, rb.status]).toEqual([200, 200]);
    expect(rb.headers.get('etag')).toBe(ra.headers.get('etag'));
    expect(Buffer.from(await rb.arrayBuffer())).toEqual(Buffer.from(await ra.arrayBuffer()));
    await Promise.all([a.images!.otf.settled(), b.images!.otf.settled()]);
    expect(a.images!.otf.stats.sharedErrors + b.images!.otf.stats.sharedErrors).toBe(0);
  });
});
