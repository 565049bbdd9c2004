import { connect } from 'node:net';

/** One HTTP/1.1 response as read off the wire. */
export interface RawResponse {
  status: number;
  /** Lower-cased names; a repeated header keeps every value. */
  headers: Record<string, string[]>;
  body: string;
}

/**
 * Writes `requests` (raw HTTP/1.1 text, pipelined on one keep-alive connection) and parses every
 * response the server sends until it closes the connection. The last request should say
 * `Connection: close`. Parsing follows the framing the server declared, the way a browser or a proxy
 * would, so a response split in two by a forged header shows up as an extra response.
 */
export function exchange(port: number, requests: string[]): Promise<RawResponse[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolve(parseResponses(Buffer.concat(chunks)));
      } catch (err) {
        reject(err);
      }
    });
    socket.write(requests.join(''));
  });
}

/** A GET or POST as raw text. */
export function rawRequest(method: string, path: string, o: { token?: string; body?: string; close?: boolean } = {}): string {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1'];
  if (o.token !== undefined) lines.push(`Authorization: Bearer ${o.token}`);
  if (o.body !== undefined) lines.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(o.body)}`);
  if (o.close === true) lines.push('Connection: close');
  return `${lines.join('\r\n')}\r\n\r\n${o.body ?? ''}`;
}

export function parseResponses(buf: Buffer): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  while (at < buf.length) {
    const headEnd = buf.indexOf('\r\n\r\n', at);
    if (headEnd === -1) throw new Error(`truncated response head: ${JSON.stringify(buf.subarray(at).toString('latin1'))}`);
    const [statusLine, ...lines] = buf.subarray(at, headEnd).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1]);
    if (!Number.isInteger(status)) throw new Error(`not a status line: ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string[]> = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      const name = l.slice(0, i).trim().toLowerCase();
      (headers[name] ??= []).push(l.slice(i + 1).trim());
    }
    at = headEnd + 4;
    let body: Buffer = Buffer.alloc(0);
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
      // no body
    } else if (headers['transfer-encoding']?.some((v) => /chunked/i.test(v))) {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', at);
        const size = parseInt(buf.subarray(at, lineEnd).toString('latin1'), 16);
        at = lineEnd + 2;
        if (size === 0) {
          at += 2;
          break;
        }
        parts.push(buf.subarray(at, at + size));
        at += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length'][0]);
      body = buf.subarray(at, at + n);
      at += n;
    } else {
      body = buf.subarray(at);
      at = buf.length;
    }
    out.push({ status, headers, body: body.toString('utf8') });
  }
  return out;
}
