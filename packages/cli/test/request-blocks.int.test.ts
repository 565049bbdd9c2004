import { MemoryEngine } from '@tributary/engine';
import { compileSource } from '@tributary/runtime';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TributaryNode } from '@tributary/node';
import { exchange, rawRequest, type RawResponse } from './rawhttp.js';

// A request block answers on the broker's own port and origin (the console's). What it returns must
// not be able to frame the HTTP exchange itself (a second response on a keep-alive connection) or
// plant cookies and active content on that origin.

const SECRET = 'request-blocks-test-secret-0123456789abcdef';
// Answers with exactly the status, headers and body the caller asks for.
const MIRROR = `
import { defineBlock } from '@tributary/block';
export default defineBlock({
  name: 'mirror',
  trigger: { request: true },
  handle(req) {
    const b = req.body as { status?: number; headers?: Record<string, string>; body?: unknown };
    return { status: b.status, headers: b.headers, body: b.body as string };
  },
});`;

let node: TributaryNode;
let engine: MemoryEngine;
let port: number;

beforeAll(async () => {
  engine = new MemoryEngine();
  node = await startNode({ engine, auth: { secret: SECRET }, port: 0, logger: pino({ level: 'silent' }) });
  await node.blocks.deploy(await compileSource(MIRROR), {});
  port = Number(new URL(node.broker.url).port);
});
afterAll(async () => {
  await node?.close();
  await engine?.close();
});

/** Asks the mirror block for `answer`, then /healthz on the same connection. */
async function mirrorThenHealth(answer: unknown): Promise<RawResponse[]> {
  return exchange(port, [
    rawRequest('POST', '/v1/blocks/mirror/', { token: SECRET, body: JSON.stringify(answer) }),
    rawRequest('GET', '/healthz', { close: true }),
  ]);
}

function expectHealth(r: RawResponse | undefined): void {
  expect(r?.status).toBe(200);
  expect(JSON.parse(r?.body ?? '')).toMatchObject({ ok: true });
}

const SPLIT = 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\n\r\nforged';

describe('request block responses', () => {
  it.each([
    ['content-length', { 'content-length': '2' }, `ok${SPLIT}`],
    ['transfer-encoding', { 'Transfer-Encoding': 'chunked' }, `2\r\nok\r\n0\r\n\r\n${SPLIT}`],
    ['connection', { connection: 'keep-alive, upgrade' }, 'x'],
    ['keep-alive', { 'keep-alive': 'timeout=600' }, 'x'],
    ['upgrade', { upgrade: 'websocket' }, 'x'],
    ['proxy-authenticate', { 'proxy-authenticate': 'Basic' }, 'x'],
    ['te', { te: 'trailers' }, 'x'],
    ['trailer', { trailer: 'x-a' }, 'x'],
    ['set-cookie', { 'Set-Cookie': 'session=evil; Path=/' }, 'x'],
    ['x-content-type-options', { 'x-content-type-options': 'sniff' }, 'x'],
  ])('refuse a block-set %s header: 502 BAD_RESULT, one response, the connection goes on', async (name, headers, body) => {
    const [first, second, ...rest] = await mirrorThenHealth({ status: 200, headers, body });
    expect(rest).toEqual([]);
    expect(first?.status).toBe(502);
    expect(JSON.parse(first?.body ?? '')).toMatchObject({ error: { code: 'BAD_RESULT', message: expect.stringContaining(name) } });
    expect(first?.headers['set-cookie']).toBeUndefined();
    expectHealth(second);
  });

  it.each([
    ['a CR/LF in a name', { 'x-a\r\nset-cookie': 'a=b' }],
    ['a CR/LF in a value', { 'x-a': 'b\r\nSet-Cookie: a=b' }],
    ['a space in a name', { 'x a': 'b' }],
    ['an empty name', { '': 'b' }],
    ['a NUL in a value', { 'x-a': 'b\u0000' }],
    ['a value that is not a string', { 'x-a': 5 }],
    ['headers that are not an object', ['x-a', 'b']],
    ['the same name twice', { 'X-A': '1', 'x-a': '2' }],
    ['65 headers', Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`x-h${i}`, 'v']))],
    ['more than 8 KiB of headers', { 'x-a': 'v'.repeat(5000), 'x-b': 'v'.repeat(5000) }],
  ])('refuse headers with %s: 502 BAD_RESULT, and nothing escapes as a 500', async (_what, headers) => {
    const [first, second, ...rest] = await mirrorThenHealth({ status: 200, headers, body: 'x' });
    expect(rest).toEqual([]);
    expect(first?.status).toBe(502);
    expect(JSON.parse(first?.body ?? '')).toMatchObject({ error: { code: 'BAD_RESULT' } });
    expectHealth(second);
  });

  it.each([[100], [101], [199], [600], [200.5], ['200']])('refuse status %j: 502 BAD_RESULT', async (status) => {
    const [first, second, ...rest] = await mirrorThenHealth({ status, body: 'x' });
    expect(rest).toEqual([]);
    expect(first?.status).toBe(502);
    expect(JSON.parse(first?.body ?? '')).toMatchObject({ error: { code: 'BAD_RESULT', message: expect.stringContaining('status') } });
    expectHealth(second);
  });

  it('send what a block may set, framed by the broker, sandboxed, with nosniff', async () => {
    const html = '<script>alert(document.cookie)</script>é';
    const [first, second, ...rest] = await mirrorThenHealth({
      status: 201,
      headers: {
        'Content-Type': 'text/html; charset=utf-8',
        'x-custom': 'yes',
        'cache-control': 'no-store',
        'content-security-policy': "img-src 'none'",
      },
      body: html,
    });
    expect(rest).toEqual([]);
    expect(first?.status).toBe(201);
    expect(first?.body).toBe(html);
    expect(first?.headers['content-length']).toEqual([String(Buffer.byteLength(html))]);
    expect(first?.headers['content-type']).toEqual(['text/html; charset=utf-8']);
    expect(first?.headers['x-custom']).toEqual(['yes']);
    expect(first?.headers['cache-control']).toEqual(['no-store']);
    expect(first?.headers['x-content-type-options']).toEqual(['nosniff']);
    // The broker's policy is always sent; a block's own can only add restrictions (browsers enforce both).
    expect(first?.headers['content-security-policy']).toEqual(["sandbox; default-src 'none'", "img-src 'none'"]);
    expectHealth(second);
  });

  it('send a 204 with neither body nor Content-Length, and the connection goes on', async () => {
    const [first, second, ...rest] = await mirrorThenHealth({ status: 204, body: 'dropped' });
    expect(rest).toEqual([]);
    expect(first?.status).toBe(204);
    expect(first?.body).toBe('');
    expect(first?.headers['content-length']).toBeUndefined();
    expectHealth(second);
  });

  it("put nosniff and the sandbox policy on JSON answers and on the broker's error answers too", async () => {
    const [ok, failed, missing, ...rest] = await exchange(port, [
      rawRequest('POST', '/v1/blocks/mirror/', { token: SECRET, body: JSON.stringify({ body: { a: 1 } }) }),
      rawRequest('POST', '/v1/blocks/mirror/', { token: SECRET, body: JSON.stringify({ status: 0 }) }),
      rawRequest('GET', '/v1/blocks/nope/', { token: SECRET, close: true }),
    ]);
    expect(rest).toEqual([]);
    expect([ok?.status, failed?.status, missing?.status]).toEqual([200, 502, 404]);
    expect(JSON.parse(ok?.body ?? '')).toEqual({ a: 1 });
    for (const r of [ok, failed, missing]) {
      expect(r?.headers['x-content-type-options']).toEqual(['nosniff']);
      expect(r?.headers['content-security-policy']).toEqual(["sandbox; default-src 'none'"]);
    }
  });
});
