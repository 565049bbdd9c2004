import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisEngine } from '@tributary/engine/redis';
import type { JsonValue } from '@tributary/protocol';
import type { HttpRoute } from '@tributary/server';
import { startRedis, startS3, type RedisServer, type S3Server } from '@tributary/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createImages, S3BlobStore, type ImagesOptions } from '../src/index.js';
import * as fx from './fixtures.js';

// A hostile client against the upload routes, on the parts a deployment runs: upload tokens in a
// real redis-server, blobs on the testkit's S3 server (s3rver behind its SigV4-checking front). By
// the project's rules no client input may end in INTERNAL (a 500), and no accepted upload may be
// lost or half-visible.

let redis: RedisServer;
let s3: S3Server;
// One after the other: two free-port lookups at once may pick the same port.
beforeAll(async () => {
  s3 = await startS3();
  redis = await startRedis();
});
afterAll(async () => {
  await s3?.stop();
  await redis?.stop();
});
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

let n = 0;
/** The image routes of a node on Redis and S3, served over HTTP as the broker mounts them (an admin caller). */
async function node(uploads: ImagesOptions['uploads'] = {}) {
  const engine = new RedisEngine({ url: redis.url, keyPrefix: `hu${n}:` });
  const dataDir = await mkdtemp(join(tmpdir(), 'hostile-uploads-'));
  cleanups.push(async () => {
    await engine.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const store = new S3BlobStore({
    bucket: s3.bucket,
    prefix: `hu${n++}`,
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    maxAttempts: 1,
  });
  const events: JsonValue[] = [];
  const i = createImages({ engine, dataDir, store, secret: 's'.repeat(32), uploads, publish: async (_c, data) => void events.push(data) });
  return { store, events, base: await serve(i.routes) };
}

async function serve(routes: HttpRoute[]): Promise<string> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = routes.find((r) => url.pathname.startsWith(r.prefix));
    if (route === undefined) return void res.writeHead(404).end();
    // What the broker does with an error that is not the route's own answer: INTERNAL.
    route.handle(req, res, { admin: true, grants: {} }, url).catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(() => r(undefined)));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function issue(base: string, body: unknown): Promise<Response> {
  return fetch(`${base}/v1/uploads`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
}

describe('upload tokens', () => {
  test('a token asked for a tiny lifetime (0.0001 s) is issued, then refused as expired: never a 500 from Redis', async () => {
    const { base } = await node();
    // Rounded to 0 ms, this was `SET … PX 0`, which Redis refuses: INTERNAL.
    const r = await issue(base, { ttlSeconds: 0.0001 });
    expect(r.status).toBe(201);
    const t = (await r.json()) as { token: string };
    await new Promise((resolve) => setTimeout(resolve, 5));
    const put = await fetch(`${base}/v1/uploads/${t.token}`, { method: 'PUT', body: await fx.plainJpeg(16, 16) });
    expect(put.status).toBe(401);
    expect(await put.json()).toMatchObject({ error: { code: 'TOKEN_INVALID' } });
  });
});

describe('direct uploads', () => {
  test('credentials that may copy but not delete the pending upload: the completion still succeeds, announced, never half-visible', async () => {
    const { base, events } = await node();
    const jpeg = await fx.plainJpeg(64, 48);
    const r = await issue(base, { direct: { bytes: jpeg.length, contentType: 'image/jpeg' } });
    const t = (await r.json()) as { key: string; uploadUrl: string; headers: Record<string, string>; completeUrl: string };
    expect((await fetch(t.uploadUrl, { method: 'PUT', headers: t.headers, body: jpeg })).status).toBe(200);
    // A policy without s3:DeleteObject on .incoming/ (or a store that goes away for that one request).
    const lift = s3.deny('DELETE', '/.incoming/');
    cleanups.push(async () => lift());
    const done = await fetch(`${base}${t.completeUrl}`, { method: 'POST' });
    // Before: the copy had made the object, the failed delete answered 502 — the object readable at
    // its key, no object.created, and the token spent, so the client could not complete again.
    expect(s3.refused.some((x) => x.method === 'DELETE' && x.code === 'AccessDenied')).toBe(true);
    expect(done.status).toBe(201);
    expect(await done.json()).toMatchObject({ key: t.key, bytes: jpeg.length, contentType: 'image/jpeg' });
    expect(events).toMatchObject([{ type: 'object.created', key: t.key, bytes: jpeg.length }]);
    const blob = await fetch(`${base}/v1/blobs/${t.key}`);
    expect(blob.status).toBe(200);
    expect(Buffer.from(await blob.arrayBuffer()).equals(jpeg)).toBe(true);
  });

  test("with tokens configured to live over a week, a direct upload is still handed out (its URL expiring after 7 days, S3's limit)", async () => {
    const { base } = await node({ ttlSeconds: 8 * 24 * 3600 });
    const jpeg = await fx.plainJpeg(64, 48);
    // Before: S3 cannot sign for more than a week, so every direct request was a 502.
    const r = await issue(base, { direct: { bytes: jpeg.length, contentType: 'image/jpeg' } });
    expect(r.status).toBe(201);
    const t = (await r.json()) as { uploadUrl: string; headers: Record<string, string>; completeUrl: string; direct: boolean };
    expect(t.direct).toBe(true);
    expect(new URL(t.uploadUrl).searchParams.get('X-Amz-Expires')).toBe(String(7 * 24 * 3600));
    expect((await fetch(t.uploadUrl, { method: 'PUT', headers: t.headers, body: jpeg })).status).toBe(200);
    expect((await fetch(`${base}${t.completeUrl}`, { method: 'POST' })).status).toBe(201);
  });
});
