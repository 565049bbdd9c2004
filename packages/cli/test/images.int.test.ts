import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createToken } from '@tributary/broker';
import { MemoryEngine } from '@tributary/engine';
import { parseSpec, SharpBackend } from '@tributary/images';
import { connectWs } from '@tributary/testkit';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TributaryNode } from '@tributary/node';

// The photo flow end to end, over real HTTP and WebSocket: a token for an upload, the upload, the
// image-transform block (real sandbox) making the sizes with sharp, a subscriber seeing the results,
// and the URLs in them serving images of those sizes.

const SECRET = 'integration-test-secret-0123456789abcdef';
const BLOCK = fileURLToPath(new URL('../../../blocks/image-transform', import.meta.url));
const TINY_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAAEklEQVR4nGM4kWJ0IsWIAUIBACiuBXmimEdRAAAAAElFTkSuQmCC',
  'base64',
);
const sharpBackend = new SharpBackend();

let node: TributaryNode;
let engine: MemoryEngine;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'trib-images-int-'));
  engine = new MemoryEngine();
  node = await startNode({ engine, auth: { secret: SECRET }, port: 0, logger: pino({ level: 'silent' }), images: { dataDir } });
  await node.blocks.deployFolder(BLOCK);
});
afterAll(async () => {
  await node?.close();
  await engine?.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function photo(width: number, height: number): Promise<Buffer> {
  const out = await sharpBackend.render(
    TINY_PNG,
    parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'scale', width, height }], output: { format: 'jpeg' } }),
  );
  return out.data;
}

describe('images through a node', () => {
  it('token → upload → subscriber sees results whose URLs serve the right sizes', async () => {
    const base = node.broker.url;
    const appToken = await createToken({ secret: SECRET, sub: 'photo-app', grants: { $uploads: ['publish'], 'images.>': ['subscribe'] } });
    const sub = await connectWs(`${node.broker.wsUrl}?token=${appToken}`);
    try {
      const subscribed = await sub.request({ type: 'subscribe', channel: 'images.results' });
      expect(subscribed.type).toBe('subscribed');

      const tokRes = await fetch(`${base}/v1/uploads`, {
        method: 'POST',
        headers: { authorization: `Bearer ${appToken}`, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(tokRes.status).toBe(201);
      const upload = (await tokRes.json()) as { token: string; key: string; uploadUrl: string; maxBytes: number };
      expect(upload.uploadUrl).toBe(`/v1/uploads/${upload.token}`);

      const put = await fetch(base + upload.uploadUrl, {
        method: 'PUT',
        headers: { 'content-type': 'image/jpeg' },
        body: await photo(1600, 1200),
      });
      expect(put.status).toBe(201);
      const created = (await put.json()) as { key: string; url: string; etag: string };
      expect(created.key).toBe(upload.key);

      // The token was single use.
      const again = await fetch(base + upload.uploadUrl, { method: 'PUT', body: await photo(10, 10) });
      expect(again.status).toBe(401);
      expect(await again.json()).toMatchObject({ error: { code: 'TOKEN_INVALID' } });

      const frame = await sub.next((f) => f.type === 'message' && f.channel === 'images.results', 20_000);
      const data = frame.data as {
        key: string;
        results: Array<{ name: string; url: string; width: number; height: number; format: string; bytes: number }>;
      };
      expect(data.key).toBe(upload.key);
      expect(data.results.map((r) => [r.name, r.width, r.height, r.format])).toEqual([
        ['thumb', 320, 320, 'jpeg'],
        ['large', 1280, 960, 'webp'],
      ]);
      for (const r of data.results) {
        const res = await fetch(base + r.url);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe(`image/${r.format}`);
        expect(res.headers.get('cache-control')).toMatch(/max-age/);
        const body = Buffer.from(await res.arrayBuffer());
        expect(body.length).toBe(r.bytes);
        const m = await sharpBackend.probe(body);
        expect([m.width, m.height, m.format]).toEqual([r.width, r.height, r.format]);
        const etag = res.headers.get('etag') as string;
        expect((await fetch(base + r.url, { headers: { 'if-none-match': etag } })).status).toBe(304);
      }

      // The original, and an on-the-fly rendition of it.
      const orig = await fetch(base + created.url);
      expect(orig.headers.get('etag')).toBe(created.etag);
      const otfPath = node.images!.signer.path(
        parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fit', width: 200 }], output: { format: 'auto' } }),
        upload.key,
      );
      const otf = await fetch(base + otfPath, { headers: { accept: 'image/webp,*/*' } });
      expect(otf.status).toBe(200);
      expect(otf.headers.get('vary')).toBe('Accept');
      const om = await sharpBackend.probe(Buffer.from(await otf.arrayBuffer()));
      expect([om.width, om.height, om.format]).toEqual([200, 150, 'webp']);
    } finally {
      await sub.close();
    }
  });

  it('upload tokens need a $uploads publish grant; uploads are checked', async () => {
    const base = node.broker.url;
    const noGrant = await createToken({ secret: SECRET, grants: { 'images.>': ['subscribe', 'publish'] } });
    const forbidden = await fetch(`${base}/v1/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${noGrant}`, 'content-type': 'application/json' },
    });
    expect(forbidden.status).toBe(403);
    expect((await fetch(`${base}/v1/uploads`, { method: 'POST' })).status).toBe(401);
    expect((await fetch(`${base}/v1/uploads`, { method: 'POST', headers: { authorization: 'Bearer forged' } })).status).toBe(401);

    const admin = { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' };
    const small = (await (
      await fetch(`${base}/v1/uploads`, { method: 'POST', headers: admin, body: JSON.stringify({ maxBytes: 100 }) })
    ).json()) as { uploadUrl: string };
    const tooBig = await fetch(base + small.uploadUrl, { method: 'PUT', body: await photo(200, 200) });
    expect(tooBig.status).toBe(413);
    const html = (await (await fetch(`${base}/v1/uploads`, { method: 'POST', headers: admin })).json()) as { uploadUrl: string };
    const wrongType = await fetch(base + html.uploadUrl, {
      method: 'PUT',
      headers: { 'content-type': 'image/jpeg' },
      body: '<html><script>alert(1)</script>',
    });
    expect(wrongType.status).toBe(415);
    expect((await fetch(`${base}/v1/blobs/..%2F..%2Fetc%2Fpasswd`)).status).toBe(400);
    expect((await fetch(`${base}/v1/blobs/uploads/nothing-here`)).status).toBe(404);
  });

  it('a key with broken percent-encoding is 400 INVALID_KEY on blobs and image URLs, and the node keeps serving', async () => {
    const base = node.broker.url;
    for (const path of ['/v1/blobs/uploads/%E0%A4%A', '/v1/blobs/%', '/v1/images/sig/spec/uploads/%ZZ']) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code, path).toBe('INVALID_KEY');
    }
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});
