import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createToken } from '@tributary/broker';
import { MemoryEngine } from '@tributary/engine';
import { parseSpec, SharpBackend } from '@tributary/images';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TributaryNode } from '@tributary/node';
import { parseResponses, type RawResponse } from './rawhttp.js';

// Uploads over the cap, spoken to the broker over a raw socket as a client would: the answer is a
// 413 the client can read while it is still sending, never a reset connection.

const SECRET = 'uploads-http-test-secret-0123456789abcdef';
const MAX = 64 * 1024;
const TINY_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAAEklEQVR4nGM4kWJ0IsWIAUIBACiuBXmimEdRAAAAAElFTkSuQmCC',
  'base64',
);

let node: TributaryNode;
let engine: MemoryEngine;
let dataDir: string;
let port: number;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'trib-uploads-http-'));
  engine = new MemoryEngine();
  node = await startNode({
    engine,
    auth: { secret: SECRET },
    port: 0,
    logger: pino({ level: 'silent' }),
    images: { dataDir, uploads: { maxBytes: MAX } },
  });
  port = Number(new URL(node.broker.url).port);
});
afterAll(async () => {
  await node?.close();
  await engine?.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function uploadPath(maxBytes?: number): Promise<string> {
  const r = await fetch(`${node.broker.url}/v1/uploads`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
    body: JSON.stringify(maxBytes === undefined ? {} : { maxBytes }),
  });
  if (r.status !== 201) throw new Error(`token request: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { uploadUrl: string }).uploadUrl;
}

/**
 * Opens a socket, writes `head`, then calls `send` to keep sending the body until the first
 * complete response has arrived. Resolves with that response, or rejects with the socket's error
 * (a reset) or when it closed without a response.
 */
function firstResponse(head: string, send: (socket: Socket, answered: () => boolean) => Promise<void>): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | undefined, r?: RawResponse): void => {
      if (done) return;
      done = true;
      socket.destroy();
      if (err !== undefined) reject(err);
      else resolve(r as RawResponse);
    };
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const headEnd = buf.indexOf('\r\n\r\n');
      if (headEnd === -1) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(buf.subarray(0, headEnd).toString('latin1'))?.[1]);
      if (buf.length < headEnd + 4 + length) return;
      finish(undefined, parseResponses(buf.subarray(0, headEnd + 4 + length))[0]);
    });
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(new Error(`connection closed without a response (${buf.length} bytes read)`)));
    socket.write(head, () => void send(socket, () => done).catch((err: Error) => finish(err)));
  });
}

/** Writes `total` bytes in 64 KiB pieces (or until answered), as chunked transfer encoding when asked. */
async function pump(socket: Socket, answered: () => boolean, total: number, chunked: boolean): Promise<void> {
  const piece = Buffer.alloc(64 * 1024, 0x61);
  // A JPEG's magic bytes first: the type, which the broker checks as soon as the first bytes
  // arrive, is allowed, so only the size is at stake.
  piece.set([0xff, 0xd8, 0xff, 0xe0]);
  for (let sent = 0; sent < total && !answered(); sent += piece.length) {
    const data = chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece;
    if (!socket.write(data)) await new Promise((r) => socket.once('drain', r));
  }
}

function expectTooLarge(r: RawResponse): void {
  expect(r.status).toBe(413);
  expect(r.headers.connection).toEqual(['close']);
  expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'TOO_LARGE', message: expect.any(String) } });
}

describe('upload size cap over a raw connection', () => {
  it('a declared Content-Length of 200 MB is answered 413 before the body is sent', async () => {
    const path = await uploadPath();
    const r = await firstResponse(
      `PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${200 * 1024 * 1024}\r\n\r\n`,
      async (socket) => void socket.write('\xff\xd8\xff\xe0'),
    );
    expectTooLarge(r);
    const again = await firstResponse(`PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${MAX + 1}\r\n\r\n`, async () => {});
    expectTooLarge(again);
    // The token is not spent by uploads that could never fit the configured cap.
    const jpeg = (await new SharpBackend().render(TINY_PNG, parseSpec({ v: 1, steps: [], output: { format: 'jpeg' } }))).data;
    const ok = await fetch(node.broker.url + path, { method: 'PUT', body: jpeg });
    expect(ok.status).toBe(201);
  });

  it('any error answered before the body was read is sent with Connection: close while the client still sends', async () => {
    const r = await firstResponse(
      `PUT /v1/uploads/${'x'.repeat(32)} HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n`,
      (socket, answered) => pump(socket, answered, 64 * 1024, false),
    );
    expect(r.status).toBe(401);
    expect(r.headers.connection).toEqual(['close']);
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'TOKEN_INVALID' } });
  });

  it("a declared Content-Length over the token's own maxBytes is answered 413 before the body is sent", async () => {
    const path = await uploadPath(1000);
    expectTooLarge(await firstResponse(`PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n`, async () => {}));
  });

  it('a chunked body is answered 413 as soon as it passes the cap, while the client is still sending', async () => {
    const path = await uploadPath();
    // Far more than the cap plus any drain allowance: the answer must come long before.
    const r = await firstResponse(`PUT ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`, (socket, answered) =>
      pump(socket, answered, 64 * 1024 * 1024, true),
    );
    expectTooLarge(r);
  });

  it('a body longer than declared small Content-Length but sent in full is still a 413, not a reset', async () => {
    const path = await uploadPath();
    const total = 32 * 1024 * 1024;
    const r = await firstResponse(`PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${total}\r\n\r\n`, (socket, answered) =>
      pump(socket, answered, total, false),
    );
    expectTooLarge(r);
  });

  it('the node goes on serving after refusing', async () => {
    expect((await fetch(`${node.broker.url}/healthz`)).status).toBe(200);
  });
});

describe('credentials for upload tokens', () => {
  it('none at all is 401 UNAUTHORIZED; forged is 401 UNAUTHORIZED; a token without the grant is 403 FORBIDDEN', async () => {
    const base = node.broker.url;
    const none = await fetch(`${base}/v1/uploads`, { method: 'POST' });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(await none.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    const forged = await fetch(`${base}/v1/uploads`, { method: 'POST', headers: { authorization: 'Bearer forged' } });
    expect(forged.status).toBe(401);
    expect(await forged.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    const noGrant = await createToken({ secret: SECRET, grants: { 'images.>': ['subscribe'] } });
    const forbidden = await fetch(`${base}/v1/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${noGrant}`, 'content-type': 'application/json' },
    });
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
  });
});
