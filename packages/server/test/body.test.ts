import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { ErrorCodes, TributaryError } from '@tributary/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { httpStatusOf, json, readBody, readBodyBytes, REFUSED_BODY_DRAIN_BYTES } from '../src/index.js';
import { rawExchange, serve } from './serve.js';

const MAX = 1024;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** Rejections nobody handled while a test ran: readBody must never leave one behind. */
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
  cleanups.push(async () => void process.off('unhandledRejection', onUnhandled));
});

/** What each request's readBody came to: the text, or the error it rejected with. */
type Outcome = { body: string } | { error: unknown };

/**
 * A server answering each request as the broker does: 200 with the body read, or the error's code
 * with its status (and `Connection: close` while the body is still arriving).
 */
async function echo(read: (req: IncomingMessage) => Promise<string> = (req) => readBody(req, MAX)) {
  const outcomes: Outcome[] = [];
  const s = await serve(async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const body = await read(req);
      outcomes.push({ body });
      json(res, 200, { bytes: Buffer.byteLength(body) });
    } catch (error) {
      outcomes.push({ error });
      const code = error instanceof TributaryError ? error.code : ErrorCodes.INTERNAL;
      if (!req.complete) res.setHeader('connection', 'close');
      json(res, httpStatusOf(code), { error: { code } });
    }
  });
  cleanups.push(s.close);
  return { ...s, outcomes };
}

async function until<T>(what: string, probe: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('readBody', () => {
  it('reads a body of exactly the limit, as text', async () => {
    const s = await echo();
    const r = await fetch(s.url, { method: 'POST', body: 'é'.repeat(MAX / 2) });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ bytes: MAX });
    expect(s.outcomes).toEqual([{ body: 'é'.repeat(MAX / 2) }]);
  });

  it('reads bytes as they came with readBodyBytes, UTF-8 or not', async () => {
    let got: Buffer | undefined;
    const s = await serve(async (req, res) => {
      got = await readBodyBytes(req, MAX);
      json(res, 200, {});
    });
    cleanups.push(s.close);
    const bytes = Buffer.from([0xff, 0xd8, 0xff, 0x00, 0x80]);
    expect((await fetch(s.url, { method: 'PUT', body: bytes })).status).toBe(200);
    expect(got).toEqual(bytes);
  });

  it('refuses a body that is not UTF-8 as BAD_JSON (400)', async () => {
    const s = await echo();
    const r = await fetch(s.url, { method: 'POST', body: Buffer.from([0x7b, 0xff, 0x7d]) });
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ error: { code: 'BAD_JSON' } });
  });

  it('refuses a declared Content-Length over the limit with PAYLOAD_TOO_LARGE (413) before a byte is sent', async () => {
    const s = await echo();
    const reply = await rawExchange(s.port, `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${100_000_000}\r\n\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 413 /);
    expect(reply.toLowerCase()).toContain('connection: close');
    expect(reply).toContain('"PAYLOAD_TOO_LARGE"');
    const [o] = s.outcomes;
    expect(o).toMatchObject({ error: { code: ErrorCodes.PAYLOAD_TOO_LARGE } });
    expect((o as { error: Error }).error).toBeInstanceOf(TributaryError);
  });

  it('refuses a chunked body the moment it passes the limit, while the client still sends', async () => {
    const s = await echo();
    const piece = 'x'.repeat(MAX + 1);
    // One chunk past the limit and no terminating chunk: the answer cannot wait for the end.
    const reply = await rawExchange(s.port, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', [
      `${piece.length.toString(16)}\r\n${piece}\r\n`,
    ]);
    expect(reply).toMatch(/^HTTP\/1\.1 413 /);
    expect(s.outcomes).toMatchObject([{ error: { code: ErrorCodes.PAYLOAD_TOO_LARGE } }]);
  });

  it('refuses a body longer than its declared small length once it passes the limit', async () => {
    const s = await echo();
    const reply = await rawExchange(
      s.port,
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n',
      Array.from({ length: 8 }, () => `200\r\n${'y'.repeat(0x200)}\r\n`),
    );
    expect(reply).toMatch(/^HTTP\/1\.1 413 /);
  });

  it('rejects an aborted request with CLOSED, typed and once, leaving no unhandled rejection', async () => {
    const s = await echo();
    const socket = connect(s.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n0123456789');
    await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    const [o] = await until('the outcome', () => (s.outcomes.length > 0 ? s.outcomes : undefined));
    expect((o as { error: Error }).error).toBeInstanceOf(TributaryError);
    expect(o).toMatchObject({ error: { code: ErrorCodes.CLOSED } });
    await new Promise((r) => setTimeout(r, 50));
    expect(s.outcomes).toHaveLength(1);
    expect(unhandled).toEqual([]);
  });

  it('after a refusal reads and drops the rest up to REFUSED_BODY_DRAIN_BYTES, then destroys the request', async () => {
    let closedAfter: number | undefined;
    let seen = 0;
    const s = await serve(async (req) => {
      req.on('data', (c: Buffer) => (seen += c.length));
      req.on('close', () => (closedAfter = seen));
      // Refused and not answered: only the drain bound ends this request.
      await readBody(req, MAX).catch(() => undefined);
    });
    cleanups.push(s.close);
    const socket = connect(s.port, '127.0.0.1');
    socket.on('error', () => {});
    let open = true;
    socket.on('close', () => (open = false));
    await new Promise<void>((r) => socket.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', () => r()));
    const piece = Buffer.alloc(64 * 1024, 0x61);
    const chunk = Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]);
    let sent = 0;
    let openAtHalf = false;
    while (open && sent < 8 * REFUSED_BODY_DRAIN_BYTES) {
      await new Promise<void>((r) => socket.write(chunk, () => r()));
      sent += piece.length;
      if (sent === REFUSED_BODY_DRAIN_BYTES / 2) openAtHalf = open && closedAfter === undefined;
      if (closedAfter !== undefined) break;
    }
    socket.destroy();
    // Still read while within the bound, so a client sending on is not reset mid-answer …
    expect(openAtHalf).toBe(true);
    // … and destroyed once past it, long before the client stopped on its own.
    const closed = await until('the request to be destroyed', () => closedAfter);
    expect(closed).toBeGreaterThan(REFUSED_BODY_DRAIN_BYTES);
    expect(closed).toBeLessThan(REFUSED_BODY_DRAIN_BYTES + 2 * MAX + 4 * piece.length);
    expect(unhandled).toEqual([]);
  });
});
