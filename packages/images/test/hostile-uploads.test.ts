import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisEngine } from '@tributary/engine/redis';
import type { JsonValue } from '@tributary/protocol';
import type { HttpRoute } from '@tributary/server';
import { eventually, startRedis, startS3, type RedisServer, type S3Server } from '@tributary/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createImages, S3BlobStore, type ImagesOptions } from '../src/index.js';
import * as fx from './fixtures.js';
import { serveRoutes } from './serve.js';

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
async function node(uploads: ImagesOptions['uploads'] = {}, on: RedisServer = redis, idleTimeoutMs?: number) {
  // A short command deadline: a Redis that went away fails a call in 300 ms, not the default 5 s.
  const engine = new RedisEngine({ url: on.url, keyPrefix: `hu${n}:`, commandTimeoutMs: 300 });
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
    ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
  });
  const events: JsonValue[] = [];
  // Events go to the engine, as the broker's Publisher appends them; they are also kept here.
  const publish = async (channel: string, data: JsonValue, o: { msgId: string }) => {
    await engine.append({ channel, payload: JSON.stringify(data), msgId: o.msgId });
    events.push(data);
  };
  const i = createImages({ engine, dataDir, store, secret: 's'.repeat(32), uploads, publish });
  return { store, events, base: await serve(i.routes) };
}

async function serve(routes: HttpRoute[]): Promise<string> {
  const server = await serveRoutes(routes);
  cleanups.push(server.close);
  return server.url;
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

  test('bytes swapped at the presigned URL between the check and the commit never become the object (415, nothing visible)', async () => {
    const { base, events } = await node();
    const jpeg = await fx.plainJpeg(64, 48);
    const r = await issue(base, { direct: { bytes: jpeg.length, contentType: 'image/jpeg' } });
    const t = (await r.json()) as { key: string; uploadUrl: string; headers: Record<string, string>; completeUrl: string };
    expect((await fetch(t.uploadUrl, { method: 'PUT', headers: t.headers, body: jpeg })).status).toBe(200);
    // The URL stays valid until it expires and binds only the size and the type header: just before
    // the broker's copy, the client PUTs an HTML page of the same size "as image/jpeg".
    const html = Buffer.alloc(jpeg.length, 0x20);
    html.write('<html><script>alert(document.cookie)</script>');
    let swapped = 0;
    s3.before(
      (x) => x.method === 'PUT' && x.headers['x-amz-copy-source'] !== undefined,
      async () => {
        swapped = (await fetch(t.uploadUrl, { method: 'PUT', headers: t.headers, body: html })).status;
      },
    );
    const done = await fetch(`${base}${t.completeUrl}`, { method: 'POST' });
    expect(swapped).toBe(200);
    // The copy carries x-amz-copy-source-if-match with the ETag checked, which S3 holds it to.
    expect(done.status).toBe(415);
    expect(await done.json()).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: expect.stringMatching(/changed/) } });
    expect((await fetch(`${base}/v1/blobs/${t.key}`)).status).toBe(404);
    expect(events).toEqual([]);
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

describe('an upload whose event cannot be published', () => {
  test('Redis gone while the body arrives: the client is told 503 and the stored object is removed, not left unannounced', async () => {
    // Its own Redis, stopped half-way through the upload.
    const own = await startRedis();
    cleanups.push(() => own.stop());
    const { base, events } = await node({}, own);
    const t = (await (await issue(base, {})).json()) as { token: string; key: string };
    const jpeg = await fx.plainJpeg(320, 240);
    const half = jpeg.length >> 1;
    const answer = new Promise<number>((resolve, reject) => {
      const req = request(`${base}/v1/uploads/${t.token}`, { method: 'PUT', headers: { 'content-length': jpeg.length } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(jpeg.subarray(0, half));
      // The token is spent and the body streams to S3 (a declared length is one streamed PUT) …
      eventually(() => s3.requests.find((r) => r.method === 'PUT' && r.path.includes(`/${t.key}`)))
        // … when Redis goes away; then the rest of the body arrives and the object is stored.
        .then(() => own.stop())
        .then(() => req.end(jpeg.subarray(half)), reject);
    });
    expect(await answer).toBe(503);
    expect(events).toEqual([]);
    // Before: 404 here was 200 — the object readable by its key, never announced (no object.created,
    // so never transformed), while its client was told the upload failed.
    const blob = await fetch(`${base}/v1/blobs/${t.key}`);
    expect(blob.status).toBe(404);
  });
});

describe('a client that stalls mid-body', () => {
  test('is told its upload stalled (504 TIMEOUT), not that the S3 store did not answer; nothing is stored', async () => {
    // The store's idle timeout short, so the stall is noticed within the test.
    const { base, store, events } = await node({}, redis, 300);
    const t = (await (await issue(base, {})).json()) as { token: string; key: string };
    const piece = Buffer.alloc(16 * 1024, 0x61);
    piece.set([0xff, 0xd8, 0xff, 0xe0]);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${base}/v1/uploads/${t.token}`, { method: 'PUT', headers: { 'content-length': 10 * piece.length } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      req.on('error', reject);
      // One piece, then nothing more: the PUT to S3 waits for bytes that do not come.
      req.write(piece);
    });
    // Before: 502 BACKEND_ERROR "the S3 store did not answer (TimeoutError …)", reason unreachable.
    expect(answer.status).toBe(504);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'TIMEOUT', message: expect.stringMatching(/stalled/) } });
    expect(await store.head(t.key)).toBeUndefined();
    expect(events).toEqual([]);
  });
});
