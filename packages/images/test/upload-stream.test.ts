import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryEngine } from '@tributary/engine';
import type { JsonValue } from '@tributary/protocol';
import type { HttpRoute } from '@tributary/server';
import { eventually, startS3, type S3Server } from '@tributary/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createImages, DiskBlobStore, S3BlobStore, type BlobStore } from '../src/index.js';
import * as fx from './fixtures.js';
import { serveRoutes } from './serve.js';

// The upload and blob routes over real HTTP, on the disk store and on S3 (s3rver on loopback behind
// the testkit's SigV4-verifying front): bodies stream to the store under the token's cap, downloads
// stream from it, and on S3 a client can upload directly with a presigned PUT.

const MAX = 256 * 1024;
let s3: S3Server;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.stop();
});
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

let n = 0;
/** The image routes of a fresh node on `kind`'s store, served as the broker mounts them (an admin caller). */
async function node(kind: 'disk' | 's3', server?: S3Server, secretAccessKey?: string) {
  const engine = new MemoryEngine();
  const dataDir = await mkdtemp(join(tmpdir(), 'images-stream-'));
  cleanups.push(async () => {
    await engine.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const store: BlobStore =
    kind === 'disk'
      ? new DiskBlobStore(dataDir)
      : new S3BlobStore({
          bucket: (server ?? s3).bucket,
          prefix: `u${n++}`,
          endpoint: (server ?? s3).endpoint,
          region: (server ?? s3).region,
          credentials: { accessKeyId: (server ?? s3).accessKeyId, secretAccessKey: secretAccessKey ?? (server ?? s3).secretAccessKey },
          maxAttempts: 1,
        });
  const events: JsonValue[] = [];
  const i = createImages({
    engine,
    dataDir,
    store,
    secret: 's'.repeat(32),
    uploads: { maxBytes: MAX },
    publish: async (_channel, data) => void events.push(data),
  });
  return { store, events, dataDir, base: await serve(i.routes) };
}

async function serve(routes: HttpRoute[]): Promise<string> {
  const server = await serveRoutes(routes);
  cleanups.push(server.close);
  return server.url;
}

interface Issued {
  token: string;
  key: string;
  uploadUrl: string;
  method: string;
  headers: Record<string, string>;
  completeUrl?: string;
  direct: boolean;
  maxBytes: number;
}

async function issue(base: string, body: unknown = {}): Promise<Issued> {
  const r = await fetch(`${base}/v1/uploads`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  expect(r.status).toBe(201);
  return (await r.json()) as Issued;
}

/** Sends `total` bytes (a JPEG's magic bytes first) chunked, a piece at a time with a pause, until the answer comes. */
function slowUpload(url: string, total: number): Promise<{ status: number; body: string; finishedSending: boolean; sent: number }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    let sent = 0;
    const req = request(url, { method: 'PUT', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      answered = true;
      const finishedSending = sent >= total;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body, finishedSending, sent });
      });
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const piece = Buffer.alloc(16 * 1024, 0x61);
    piece.set([0xff, 0xd8, 0xff, 0xe0]);
    const next = (): void => {
      if (answered) return;
      if (sent >= total) return void req.end();
      sent += piece.length;
      req.write(piece);
      setTimeout(next, 5);
    };
    next();
  });
}

describe.each(['disk', 's3'] as const)('uploads and downloads stream (%s store)', (kind) => {
  test('a chunked body over the cap, sent slowly, is answered 413 before the client has sent it all, and nothing is stored', async () => {
    const { base, store, events, dataDir } = await node(kind);
    const t = await issue(base);
    const total = 16 * MAX;
    const r = await slowUpload(`${base}/v1/uploads/${t.token}`, total);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'TOO_LARGE' } });
    expect(r.finishedSending).toBe(false);
    expect(r.sent).toBeLessThan(total);
    expect(await store.head(t.key)).toBeUndefined();
    expect(events).toEqual([]);
    if (kind === 'disk') await eventually(async () => (await readdir(join(dataDir, 'tmp')).catch(() => [])).length === 0);
  });

  test('an upload streamed through the broker reads back whole, by range, and 304 on its ETag', async () => {
    const { base, events } = await node(kind);
    const jpeg = await fx.plainJpeg(300, 200);
    for (const chunked of [true, false]) {
      const t = await issue(base);
      // fetch sends a stream body chunked, a Buffer with its Content-Length.
      const body = chunked ? new Blob([jpeg]).stream() : jpeg;
      const up = await fetch(t.uploadUrl.startsWith('http') ? t.uploadUrl : `${base}${t.uploadUrl}`, {
        method: 'PUT',
        body,
        headers: { 'content-type': 'image/jpeg' },
        ...(chunked ? { duplex: 'half' } : {}),
      } as RequestInit);
      expect(up.status).toBe(201);
      const info = (await up.json()) as { key: string; bytes: number; etag: string; url: string };
      expect(info).toMatchObject({ key: t.key, bytes: jpeg.length, contentType: 'image/jpeg' });
      const whole = await fetch(`${base}${info.url}`);
      expect(whole.status).toBe(200);
      expect(whole.headers.get('etag')).toBe(info.etag);
      expect(Buffer.from(await whole.arrayBuffer()).equals(jpeg)).toBe(true);
      const part = await fetch(`${base}${info.url}`, { headers: { range: 'bytes=10-19' } });
      expect(part.status).toBe(206);
      expect(part.headers.get('content-range')).toBe(`bytes 10-19/${jpeg.length}`);
      expect(Buffer.from(await part.arrayBuffer()).equals(jpeg.subarray(10, 20))).toBe(true);
      const tail = await fetch(`${base}${info.url}`, { headers: { range: 'bytes=-5' } });
      expect(Buffer.from(await tail.arrayBuffer()).equals(jpeg.subarray(jpeg.length - 5))).toBe(true);
      expect((await fetch(`${base}${info.url}`, { headers: { range: `bytes=${jpeg.length}-` } })).status).toBe(416);
      expect((await fetch(`${base}${info.url}`, { headers: { 'if-none-match': info.etag } })).status).toBe(304);
    }
    expect(events).toHaveLength(2);
  });

  test('a client that goes away mid-body leaves nothing stored', async () => {
    const { base, store, events, dataDir } = await node(kind);
    const t = await issue(base);
    const putsBefore = s3.requests.filter((r) => r.method === 'PUT').length;
    const req = request(`${base}/v1/uploads/${t.token}`, { method: 'PUT', headers: { 'content-length': MAX - 1 } });
    req.on('error', () => {});
    const piece = Buffer.alloc(16 * 1024, 0x61);
    piece.set([0xff, 0xd8, 0xff, 0xe0]);
    req.write(piece);
    // The body is on its way into the store: a temp file on disk, a PUT at the S3 server.
    await eventually(async () =>
      kind === 'disk'
        ? (await readdir(join(dataDir, 'tmp')).catch(() => [])).length > 0
        : s3.requests.filter((r) => r.method === 'PUT').length > putsBefore,
    );
    req.destroy();
    if (kind === 'disk') await eventually(async () => (await readdir(join(dataDir, 'tmp')).catch(() => [])).length === 0);
    expect(await store.head(t.key)).toBeUndefined();
    expect(events).toEqual([]);
  });

  test('a body whose first bytes are not an allowed image is 415 at once; the token is spent', async () => {
    const { base, store } = await node(kind);
    const t = await issue(base);
    const r = await fetch(`${base}/v1/uploads/${t.token}`, { method: 'PUT', body: Buffer.from('<html><script>alert(1)</script>') });
    expect(r.status).toBe(415);
    expect(await store.head(t.key)).toBeUndefined();
    const again = await fetch(`${base}/v1/uploads/${t.token}`, { method: 'PUT', body: await fx.plainJpeg(8, 8) });
    expect(again.status).toBe(401);
  });
});

describe('direct uploads', () => {
  test('S3: a presigned PUT of exactly the declared size and type, then completion: checked, committed, one event, token spent', async () => {
    const { base, events } = await node('s3');
    const jpeg = await fx.plainJpeg(64, 48);
    const t = await issue(base, { direct: { bytes: jpeg.length, contentType: 'image/jpeg' } });
    expect(t).toMatchObject({ direct: true, method: 'PUT', headers: { 'content-type': 'image/jpeg' }, maxBytes: jpeg.length });
    expect(t.uploadUrl.startsWith(s3.endpoint)).toBe(true);
    const completeUrl = `${base}${t.completeUrl}`;
    // Before the bytes are there: 404, and the token stays usable.
    const early = await fetch(completeUrl, { method: 'POST' });
    expect(early.status).toBe(404);
    // The store itself refuses another size or type.
    expect((await fetch(t.uploadUrl, { method: 'PUT', body: Buffer.concat([jpeg, Buffer.alloc(1)]), headers: t.headers })).status).toBe(
      403,
    );
    expect((await fetch(t.uploadUrl, { method: 'PUT', body: jpeg, headers: { 'content-type': 'image/png' } })).status).toBe(403);
    expect((await fetch(t.uploadUrl, { method: 'PUT', body: jpeg, headers: t.headers })).status).toBe(200);
    // Uploaded but not yet checked: not an object.
    expect((await fetch(`${base}/v1/blobs/${t.key}`)).status).toBe(404);
    const done = await fetch(completeUrl, { method: 'POST' });
    expect(done.status).toBe(201);
    const info = (await done.json()) as { key: string; bytes: number; contentType: string; url: string };
    expect(info).toMatchObject({ key: t.key, bytes: jpeg.length, contentType: 'image/jpeg' });
    expect(events).toEqual([
      expect.objectContaining({ type: 'object.created', key: t.key, bytes: jpeg.length, contentType: 'image/jpeg' }),
    ]);
    const blob = await fetch(`${base}${info.url}`);
    expect(Buffer.from(await blob.arrayBuffer()).equals(jpeg)).toBe(true);
    const twice = await fetch(completeUrl, { method: 'POST' });
    expect(twice.status).toBe(401);
    expect(await twice.json()).toMatchObject({ error: { code: 'TOKEN_INVALID' } });
    expect(events).toHaveLength(1);
  });

  test('S3: bytes that are not the declared image are refused at completion (415) and never become an object', async () => {
    const { base, events, store } = await node('s3');
    const fake = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
    const t = await issue(base, { direct: { bytes: fake.length, contentType: 'image/jpeg' } });
    expect((await fetch(t.uploadUrl, { method: 'PUT', body: fake, headers: t.headers })).status).toBe(200);
    const done = await fetch(`${base}${t.completeUrl}`, { method: 'POST' });
    expect(done.status).toBe(415);
    expect(await store.head(t.key)).toBeUndefined();
    expect(await (store as S3BlobStore).direct.inspect(t.key, 8)).toBeUndefined();
    expect(events).toEqual([]);
  });

  test('a direct request over the cap or of a type not allowed is refused when the token is asked for', async () => {
    const { base } = await node('s3');
    const big = await fetch(`${base}/v1/uploads`, {
      method: 'POST',
      body: JSON.stringify({ direct: { bytes: MAX + 1, contentType: 'image/jpeg' } }),
    });
    expect(big.status).toBe(413);
    const svg = await fetch(`${base}/v1/uploads`, {
      method: 'POST',
      body: JSON.stringify({ direct: { bytes: 10, contentType: 'image/svg+xml' } }),
    });
    expect(svg.status).toBe(415);
  });

  test('disk: a direct request is answered with an upload through the broker of the same size and type', async () => {
    const { base } = await node('disk');
    const jpeg = await fx.plainJpeg(32, 32);
    const t = await issue(base, { direct: { bytes: jpeg.length, contentType: 'image/jpeg' } });
    expect(t).toMatchObject({ direct: false, uploadUrl: `/v1/uploads/${t.token}`, maxBytes: jpeg.length });
    expect(t.completeUrl).toBeUndefined();
    expect((await fetch(`${base}${t.uploadUrl}`, { method: 'PUT', body: jpeg, headers: t.headers })).status).toBe(201);
  });
});

describe('when S3 fails under an upload', () => {
  test('wrong credentials: the upload is answered 502 BACKEND_ERROR naming the credentials, not a 500', async () => {
    const { base } = await node('s3', s3, 'not-the-secret');
    const t = await issue(base);
    const r = await fetch(`${base}/v1/uploads/${t.token}`, { method: 'PUT', body: await fx.plainJpeg(16, 16) });
    expect(r.status).toBe(502);
    const body = (await r.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('BACKEND_ERROR');
    expect(body.error.message).toMatch(/credentials/);
  });

  test('the store goes away while the body streams: 502 BACKEND_ERROR to the client, and nothing is there after a restart', async () => {
    const own = await startS3();
    cleanups.push(() => own.stop());
    const { base, store, events } = await node('s3', own);
    const t = await issue(base);
    const total = MAX - 1024;
    let answered: { status: number; body: string } | undefined;
    const req = request(`${base}/v1/uploads/${t.token}`, { method: 'PUT', headers: { 'content-length': total } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => {
        answered = { status: res.statusCode ?? 0, body };
      });
    });
    req.on('error', () => {});
    const piece = Buffer.alloc(16 * 1024, 0x61);
    piece.set([0xff, 0xd8, 0xff, 0xe0]);
    req.write(piece);
    // The PUT to S3 is under way once the front has seen it; then the server dies mid-body.
    await eventually(() => own.requests.some((r) => r.method === 'PUT'));
    await own.kill();
    let sent = piece.length;
    while (answered === undefined && sent + piece.length <= total) {
      if (!req.write(piece)) await new Promise((r) => req.once('drain', r));
      sent += piece.length;
    }
    await eventually(() => answered);
    req.destroy();
    expect(answered?.status).toBe(502);
    expect(JSON.parse(answered?.body ?? '{}')).toMatchObject({ error: { code: 'BACKEND_ERROR' } });
    await own.restart();
    expect(await store.head(t.key)).toBeUndefined();
    expect(events).toEqual([]);
  });
});
