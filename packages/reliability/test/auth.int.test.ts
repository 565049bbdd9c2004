// Credentials on every path of a real `tributary start --secret` process: expired, forged (another
// secret), tampered (payload edited, signature kept), unsigned (alg none), garbage, and valid tokens
// with the wrong grant. Each is refused with its typed error — UNAUTHORIZED / TOKEN_EXPIRED (401,
// WebSocket close 4001) or FORBIDDEN (403) — and a valid token with the right grant gets through,
// so a refusal is the credential's doing and not a broken route.
import { createToken, type Action } from '@tributary/broker';
import { connectWs } from '@tributary/testkit';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, spawnCli, type NodeProc } from '../src/procs.js';

const SECRET = 'reliability-secret-of-at-least-32-bytes!';
const BLOCKS = fileURLToPath(new URL('./fixtures/blocks', import.meta.url));
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
/** A JWT signed by hand, so the test can make any (in)valid token the broker must judge. */
function jwt(payload: Record<string, unknown>, secret = SECRET, alg = 'HS256'): string {
  const head = `${b64({ alg, typ: 'JWT' })}.${b64(payload)}`;
  return alg === 'none' ? `${head}.` : `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}
/** A 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
const now = (): number => Math.floor(Date.now() / 1000);
const ALL: Action[] = ['subscribe', 'publish', 'history', 'presence'];

let node: NodeProc;
let dataDir: string;
let bad: Record<string, { token: string; code: 'UNAUTHORIZED' | 'TOKEN_EXPIRED' }>;
let wrongGrant: string;
let good: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'tributary-rel-auth-'));
  node = await spawnCli(['--secret', SECRET, '--blocks', BLOCKS, '--data', dataDir]);
  good = await createToken({ secret: SECRET, grants: { 'acl.>': ALL, $uploads: ['publish'], '$blocks.hello': ['request'] }, sub: 'good' });
  wrongGrant = await createToken({ secret: SECRET, grants: { 'other.>': ALL }, sub: 'wrong' });
  const [h, , s] = good.split('.');
  bad = {
    expired: { token: jwt({ iss: 'tributary', exp: now() - 60, grants: { 'acl.>': ALL } }), code: 'TOKEN_EXPIRED' },
    forged: {
      token: jwt({ iss: 'tributary', exp: now() + 600, grants: { 'acl.>': ALL } }, 'another-secret-that-is-32-bytes-long!!'),
      code: 'UNAUTHORIZED',
    },
    tampered: {
      token: `${h}.${b64({ iss: 'tributary', exp: now() + 600, grants: { '>': ALL, $uploads: ['publish'] } })}.${s}`,
      code: 'UNAUTHORIZED',
    },
    unsigned: { token: jwt({ iss: 'tributary', exp: now() + 600, grants: { 'acl.>': ALL } }, SECRET, 'none'), code: 'UNAUTHORIZED' },
    noExp: { token: jwt({ iss: 'tributary', grants: { 'acl.>': ALL } }), code: 'UNAUTHORIZED' },
    garbage: { token: 'not-a-token', code: 'UNAUTHORIZED' },
  };
});
afterAll(async () => {
  await killAll();
  await rm(dataDir, { recursive: true, force: true });
});

async function http(
  method: string,
  path: string,
  token: string | undefined,
  body?: unknown,
): Promise<{ status: number; code: string | undefined; json: unknown }> {
  const res = await fetch(`${node.url}${path}`, {
    method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, code: (json as { error?: { code?: string } } | undefined)?.error?.code, json };
}

const HTTP_PATHS: Array<[string, string, unknown?]> = [
  ['POST', '/v1/channels/acl.x/messages', { data: 1 }],
  ['GET', '/v1/channels/acl.x/messages'],
  ['GET', '/v1/channels/acl.x/presence'],
  ['GET', '/v1/blocks/hello/x'],
  ['POST', '/v1/uploads', {}],
  ['GET', '/v1/admin/blocks'],
  ['GET', '/metrics'],
];

describe('bad credentials on every path', () => {
  it('the WebSocket refuses them before anything else (subscribe, publish, history, presence all sit behind it)', async () => {
    for (const [name, { token, code }] of Object.entries(bad)) {
      for (const how of ['query', 'header'] as const) {
        const s =
          how === 'query'
            ? await connectWs(`${node.wsUrl}?token=${encodeURIComponent(token)}`)
            : await connectWs(node.wsUrl, { headers: { authorization: `Bearer ${token}` } });
        expect(s.frames[0], `${name} via ${how}`).toMatchObject({ type: 'error', code });
        expect((await s.closed).code).toBe(4001);
      }
    }
    const none = await connectWs(node.wsUrl);
    expect(none.frames[0]).toMatchObject({ type: 'error', code: 'UNAUTHORIZED' });
    expect((await none.closed).code).toBe(4001);
  });

  it("an `auth` frame with a bad token is refused and does not change the connection's rights", async () => {
    const s = await connectWs(`${node.wsUrl}?token=${wrongGrant}`);
    for (const [name, { token, code }] of Object.entries(bad)) {
      expect(await s.request({ type: 'auth', token }), name).toMatchObject({ type: 'error', code });
    }
    expect(await s.request({ type: 'publish', channel: 'acl.x', data: 1 })).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    await s.close();
  });

  it('a valid token with the wrong grant is refused for WS subscribe, publish, history and presence', async () => {
    const s = await connectWs(`${node.wsUrl}?token=${wrongGrant}`);
    expect(s.frames[0]).toMatchObject({ type: 'welcome' });
    for (const f of [
      { type: 'subscribe', channel: 'acl.x' },
      { type: 'subscribe', channel: 'acl.*' },
      { type: 'subscribe', channel: '>' },
      { type: 'subscribe', channel: '$dlq.tally' },
      { type: 'publish', channel: 'acl.x', data: 1 },
      { type: 'history', channel: 'acl.x' },
      { type: 'presence', channel: 'acl.x' },
    ]) {
      expect(await s.request(f), JSON.stringify(f)).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    }
    // The grant it has works: refusals are about the grant.
    expect(await s.request({ type: 'publish', channel: 'other.x', data: 1 })).toMatchObject({ type: 'ack' });
    await s.close();
  });

  it('every HTTP path refuses bad tokens with 401 and its code, and wrong grants with 403', async () => {
    for (const [method, path, body] of HTTP_PATHS) {
      for (const [name, { token, code }] of Object.entries(bad)) {
        expect(await http(method, path, token, body), `${name} ${method} ${path}`).toMatchObject({ status: 401, code });
      }
    }
    for (const [method, path, body] of HTTP_PATHS) {
      expect(await http(method, path, wrongGrant, body), `wrong grant ${method} ${path}`).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    }
    // Without credentials: refused on everything but the public blob/image/upload-redeem routes.
    for (const [method, path, body] of HTTP_PATHS) {
      const r = await http(method, path, undefined, body);
      expect(r.status, `anonymous ${method} ${path}`).toBeGreaterThanOrEqual(401);
      expect(r.status).toBeLessThanOrEqual(403);
    }
    // The right grant gets through on the same paths.
    expect(await http('POST', '/v1/channels/acl.x/messages', good, { data: 1 })).toMatchObject({ status: 201 });
    expect(await http('GET', '/v1/channels/acl.x/messages', good)).toMatchObject({ status: 200 });
    expect(await http('GET', '/v1/channels/acl.x/presence', good)).toMatchObject({ status: 200 });
    expect(await http('GET', '/v1/blocks/hello/x', good)).toMatchObject({ status: 200, json: { ok: true } });
  });

  it('uploads: a forged or reused upload token and a forged image URL signature are refused', async () => {
    const issued = await http('POST', '/v1/uploads', good, {});
    expect(issued.status).toBe(201);
    const { uploadUrl } = issued.json as { uploadUrl: string };
    const put = (url: string): Promise<Response> =>
      fetch(`${node.url}${url}`, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: PNG });
    const forged = `${uploadUrl.slice(0, -4)}${uploadUrl.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    const f = await put(forged);
    expect(f.status).toBe(401);
    expect(await f.json()).toMatchObject({ error: { code: 'TOKEN_INVALID' } });
    expect((await put(uploadUrl)).status).toBe(201);
    const again = await put(uploadUrl); // one-time
    expect(again.status).toBe(401);
    expect(await again.json()).toMatchObject({ error: { code: 'TOKEN_INVALID' } });
    for (const sig of ['k1.AAAAAAAAAAAAAAAAAAAAAA', 'garbage', 'k1.']) {
      const r = await http('GET', `/v1/images/${sig}/e30/uploads/x.png`, undefined);
      expect(r, sig).toMatchObject({ status: 403, code: 'BAD_SIGNATURE' });
    }
  });
});
