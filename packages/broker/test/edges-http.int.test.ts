// Edge cases found by a hostile review: Origin/Host policy, 415, 413 — raw HTTP on loopback.
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { broker, SECRET } from './helpers.js';

/** One raw HTTP exchange; resolves with the status line, headers and whether the server closed. */
function raw(port: number, request: string | Buffer, waitMs = 1500): Promise<{ status: number; text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    sock.on('data', (d) => (text += d.toString('latin1')));
    sock.on('error', () => {});
    sock.on('close', () => (closed = true));
    sock.write(request);
    setTimeout(() => {
      sock.destroy();
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0), text, closed });
    }, waitMs);
  });
}

const upgrade = (host: string | undefined, origin: string | undefined): string =>
  `GET /v1/ws HTTP/1.1\r\n${host === undefined ? '' : `Host: ${host}\r\n`}${origin === undefined ? '' : `Origin: ${origin}\r\n`}` +
  'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

describe('origin policy (insecure mode)', () => {
  it('refuses foreign origins and hosts, whatever their spelling', async () => {
    const b = await broker();
    const p = b.port;
    const cases: Array<[string, string | undefined, string | undefined, 'allow' | 'deny']> = [
      ['no origin, loopback host', `127.0.0.1:${p}`, undefined, 'allow'],
      ['same origin', `127.0.0.1:${p}`, `http://127.0.0.1:${p}`, 'allow'],
      ['localhost dev server', `localhost:${p}`, 'http://localhost:5173', 'allow'],
      ['[::1] origin', `[::1]:${p}`, 'http://[::1]:3000', 'allow'],
      ['foreign origin', `127.0.0.1:${p}`, 'http://evil.com', 'deny'],
      ['Origin: null', `127.0.0.1:${p}`, 'null', 'deny'],
      ['localhost.evil.com', `127.0.0.1:${p}`, 'http://localhost.evil.com', 'deny'],
      ['127.0.0.1.nip.io', `127.0.0.1:${p}`, 'http://127.0.0.1.nip.io', 'deny'],
      ['localhost@evil', `127.0.0.1:${p}`, 'http://localhost@evil.com', 'deny'],
      ['upper-case foreign', `127.0.0.1:${p}`, 'HTTP://EVIL.COM', 'deny'],
      ['rebinding host', `evil.com:${p}`, `http://evil.com:${p}`, 'deny'],
      ['rebinding host, no origin', `evil.com:${p}`, undefined, 'deny'],
      ['host localhost.evil.com', `localhost.evil.com:${p}`, undefined, 'deny'],
      ['host with trailing dot', `localhost.:${p}`, undefined, 'deny'],
      ['host 127.0.0.1.evil', `127.0.0.1.evil.com:${p}`, undefined, 'deny'],
      ['host upper LOCALHOST', `LOCALHOST:${p}`, undefined, 'allow'],
      ['origin with port-ish host match trick', `evil.com`, 'http://evil.com', 'deny'],
      ['file:// origin', `127.0.0.1:${p}`, 'file://', 'deny'],
      ['chrome-extension origin', `127.0.0.1:${p}`, 'chrome-extension://abc', 'deny'],
    ];
    const wrong: string[] = [];
    for (const [name, host, origin, want] of cases) {
      const ws = await raw(p, upgrade(host, origin), 300);
      const http = await raw(
        p,
        `GET /v1/channels/a/messages HTTP/1.1\r\n${host === undefined ? '' : `Host: ${host}\r\n`}${origin === undefined ? '' : `Origin: ${origin}\r\n`}Connection: close\r\n\r\n`,
        300,
      );
      const got = ws.status === 101 ? 'allow' : 'deny';
      const gotHttp = http.status === 200 ? 'allow' : 'deny';
      if (got !== want || gotHttp !== want) wrong.push(`${name}: ws ${ws.status}, http ${http.status}, want ${want}`);
    }
    expect(wrong).toEqual([]);
  }, 30_000);
});

describe('415 on the JSON API', () => {
  it('only application/json (any case, with params) gets through; everything a form can send is 415', async () => {
    const b = await broker();
    const p = b.port;
    const body = '{"data":1}';
    const post = (ct: string | undefined, path = '/v1/channels/a/messages', extra = ''): string =>
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\n${ct === undefined ? '' : `Content-Type: ${ct}\r\n`}${extra}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
    const cases: Array<[string | undefined, number]> = [
      ['application/json', 201],
      ['Application/JSON; charset=utf-8', 201],
      ['application/json ; charset=utf-8', 201],
      [undefined, 415],
      ['', 415],
      ['text/plain', 415],
      ['text/plain; application/json', 415],
      ['application/json-patch+json', 415],
      ['application/jsonx', 415],
      ['application/x-www-form-urlencoded', 415],
      ['multipart/form-data; boundary=x', 415],
      ['text/plain, application/json', 415],
    ];
    const wrong: string[] = [];
    for (const [ct, want] of cases) {
      const r = await raw(p, post(ct), 300);
      if (r.status !== want) wrong.push(`${String(ct)}: ${r.status}, want ${want}`);
    }
    // Two Content-Type headers: Node keeps the first.
    const dup = await raw(
      p,
      `POST /v1/channels/a/messages HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\nContent-Type: text/plain\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      300,
    );
    expect(dup.status).toBe(415);
    expect(wrong).toEqual([]);
  }, 30_000);
});

describe('413 before the body', () => {
  it('a declared-too-large body gets one 413 with Connection: close, and the socket is closed', async () => {
    const b = await broker({ auth: { secret: SECRET } });
    const p = b.port;
    const r = await raw(
      p,
      `POST /v1/channels/a/messages HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\nAuthorization: Bearer ${SECRET}\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{"data":`,
      1500,
    );
    const replies = r.text.split('HTTP/1.1 ').length - 1;
    expect(r.status).toBe(413);
    expect(replies).toBe(1);
    expect(r.text.toLowerCase()).toContain('connection: close');
    // A chunked body: 413 as soon as it passes the limit, while the client still sends.
    const chunk = 'x'.repeat(70_000);
    const c = await raw(
      p,
      `POST /v1/channels/a/messages HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\nAuthorization: Bearer ${SECRET}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n`,
      1500,
    );
    expect(c.status).toBe(413);
  });
});
