// A WebSocket client that writes frames byte by byte, for the fuzzer: it can send a message split
// into continuation frames (with control frames between them), a frame header promising more bytes
// than follow, frames before the broker's `welcome` (even in the same TCP write as the upgrade
// request), and anything else RFC 6455 allows a hostile client to put on the wire. Only what the
// fuzzer needs of the server side is decoded: text frames (JSON), close frames, pings answered.
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/** Opcodes of RFC 6455 §5.2. */
export const Op = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

/** How a message is cut into frames: byte lengths of every fragment but the last, pings between them. */
export interface Fragmenting {
  /** Byte lengths of the leading fragments (the rest goes in the final one); empty = one frame. */
  cuts: number[];
  /**
   * A ping control frame after the first fragment (legal: control frames may be interleaved). One
   * per message: ws closes a connection (1006) that sends ~80 pings in one burst.
   */
  pings: boolean;
}

/**
 * One client frame: FIN bit, opcode, masked (every client frame must be) with an all-zero key, which
 * leaves the payload bytes as they are — the fuzzer sends megabytes, and the server only checks the bit.
 */
export function encodeFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const n = payload.length;
  const ext = n < 126 ? 0 : n < 65_536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + 4);
  head[0] = (fin ? 0x80 : 0) | opcode;
  if (ext === 0) head[1] = 0x80 | n;
  else if (ext === 2) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(n, 2);
  } else {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

/** A whole message (text or binary) as wire bytes, fragmented as asked. */
export function encodeMessage(data: Buffer, binary: boolean, f: Fragmenting = { cuts: [], pings: false }): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (const cut of f.cuts) {
    const len = Math.min(cut, data.length - at);
    parts.push(encodeFrame(at === 0 ? (binary ? Op.BINARY : Op.TEXT) : Op.CONT, data.subarray(at, at + len), false));
    if (f.pings && at === 0) parts.push(encodeFrame(Op.PING, Buffer.from('fz')));
    at += len;
  }
  parts.push(encodeFrame(at === 0 ? (binary ? Op.BINARY : Op.TEXT) : Op.CONT, data.subarray(at), true));
  return Buffer.concat(parts);
}

/**
 * The header of a text frame promising `promised` payload bytes, and the first `sent` of them: a
 * partial frame. The server must wait for the rest (or the close) without harm to anyone else.
 */
export function partialFrame(promised: number, sent: number, fin = true): Buffer {
  const full = encodeFrame(Op.TEXT, Buffer.alloc(promised, 0x41), fin);
  return full.subarray(0, full.length - promised + sent);
}

/** A raw client connection after the upgrade (or its refusal). */
export interface RawWs {
  socket: Socket;
  /** Status line of the handshake reply (`HTTP/1.1 101 Switching Protocols`). */
  status: string;
  /** Called with each text frame the server sends, parsed (or `{type:'?unparsed', raw}` if not JSON); pass it to rawConnect. */
  onFrame: (f: Record<string, unknown>) => void;
  /** Writes bytes as they are. */
  write(bytes: Buffer): boolean;
  /** Sends a message (maybe fragmented). */
  send(data: string | Buffer, binary?: boolean, f?: Fragmenting): boolean;
  /** Resolves with the close code the server sent (1006 when the TCP connection ended without one). */
  closed: Promise<number>;
  isClosed(): boolean;
  /** Sends a close frame and ends the socket; `destroy()` cuts it without one. */
  close(): void;
  destroy(): void;
}

/**
 * Opens a TCP connection, writes the upgrade request for `url` (with `early` bytes in the same write,
 * i.e. frames the server receives before it even answered), and resolves once the server answered
 * the handshake — with 101 or not (then `status` says what, and the socket is ended).
 */
export function rawConnect(
  url: string,
  options: { headers?: Record<string, string>; early?: Buffer; timeoutMs?: number; onFrame?: (f: Record<string, unknown>) => void } = {},
): Promise<RawWs> {
  const u = new URL(url);
  const socket = connect({ host: u.hostname, port: Number(u.port) });
  socket.setNoDelay(true);
  const headers = {
    Host: u.host,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...options.headers,
  };
  const head = `GET ${u.pathname}${u.search} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
  let closeCode = 1006;
  let closed = false;
  let onClosed: (code: number) => void = () => {};
  const closedP = new Promise<number>((resolve) => (onClosed = resolve));
  const ws: RawWs = {
    socket,
    status: '',
    // Set at connect time: the welcome often comes in the same TCP chunk as the handshake reply.
    onFrame: options.onFrame ?? (() => {}),
    write: (bytes) => !closed && socket.write(bytes),
    send: (data, binary, f) => ws.write(encodeMessage(typeof data === 'string' ? Buffer.from(data) : data, binary ?? false, f)),
    closed: closedP,
    isClosed: () => closed,
    close() {
      if (!closed) socket.end(encodeFrame(Op.CLOSE, Buffer.from([0x03, 0xe8])));
    },
    destroy: () => socket.destroy(),
  };
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    onClosed(closeCode);
  });
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    let upgraded = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no handshake reply from ${url} within ${options.timeoutMs ?? 10_000} ms`));
    }, options.timeoutMs ?? 10_000);
    socket.on('close', () => {
      clearTimeout(timer);
      if (!upgraded) {
        ws.status ||= '(closed before a handshake reply)';
        resolve(ws);
      }
    });
    socket.on('connect', () => socket.write(options.early === undefined ? head : Buffer.concat([Buffer.from(head), options.early])));
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        ws.status = buf.subarray(0, buf.indexOf('\r\n')).toString();
        upgraded = true;
        clearTimeout(timer);
        buf = buf.subarray(end + 4);
        if (!/^HTTP\/1\.1 101/.test(ws.status)) socket.end();
        resolve(ws);
      }
      // Server frames: never masked, never fragmented by this broker.
      let at = 0;
      for (;;) {
        if (buf.length - at < 2) break;
        const b0 = buf[at] as number;
        let len = (buf[at + 1] as number) & 0x7f;
        let off = at + 2;
        if (len === 126) {
          if (buf.length - at < 4) break;
          len = buf.readUInt16BE(at + 2);
          off += 2;
        } else if (len === 127) {
          if (buf.length - at < 10) break;
          len = Number(buf.readBigUInt64BE(at + 2));
          off += 8;
        }
        if (buf.length < off + len) break;
        const payload = buf.subarray(off, off + len);
        at = off + len;
        const op = b0 & 0x0f;
        if (op === Op.TEXT) {
          const text = payload.toString();
          let f: Record<string, unknown>;
          try {
            f = JSON.parse(text) as Record<string, unknown>;
          } catch {
            f = { type: '?unparsed', raw: text.slice(0, 200) };
          }
          ws.onFrame(f);
        } else if (op === Op.PING) {
          // A well-behaved peer answers pings (the broker cuts peers that do not).
          if (!closed) socket.write(encodeFrame(Op.PONG, Buffer.from(payload)));
        } else if (op === Op.CLOSE) {
          closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
          socket.end();
        }
      }
      buf = at === buf.length ? Buffer.alloc(0) : buf.subarray(at);
    });
  });
}
