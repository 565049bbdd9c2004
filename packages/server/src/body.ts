import type { IncomingMessage } from 'node:http';
import { ErrorCodes, TributaryError } from '@tributary/protocol';

/**
 * How much of a refused body is still read and dropped after the refusal before the request is
 * destroyed. A client is usually still sending when it is refused; closing the connection on
 * unread data makes the kernel send a reset, which many clients report instead of the answer they
 * already received — so the rest is read while the answer goes out, up to this bound.
 */
export const REFUSED_BODY_DRAIN_BYTES = 8 * 1024 * 1024;

/**
 * Reads a request body of at most `max` bytes. The one behaviour of every route:
 * - a body declared larger (Content-Length) is refused before a byte of it is read, and an
 *   undeclared one (chunked, or longer than declared) the moment it passes `max`: the promise
 *   rejects with a `TributaryError` PAYLOAD_TOO_LARGE (413) at once, so the answer can go out
 *   while the client still sends. The rest of the body is read and dropped, up to
 *   {@link REFUSED_BODY_DRAIN_BYTES}, then the request is destroyed; the answer should say
 *   `Connection: close`.
 * - a request that is aborted (the client goes away, the socket errors) rejects with CLOSED —
 *   typed, with the socket's error as `cause` — never with a raw stream error, and never twice.
 */
export function readBodyBytes(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    let dropped = 0;
    const detach = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const refuse = (what: string): void => {
      refused = true;
      chunks.length = 0;
      reject(new TributaryError(ErrorCodes.PAYLOAD_TOO_LARGE, `body is ${what}; the limit is ${max} bytes`));
    };
    const onData = (c: Buffer): void => {
      if (refused) {
        dropped += c.length;
        if (dropped > REFUSED_BODY_DRAIN_BYTES) {
          detach();
          req.destroy();
        }
        return;
      }
      size += c.length;
      if (size <= max) chunks.push(c);
      else refuse(`over ${max} bytes`);
    };
    const onEnd = (): void => {
      detach();
      if (!refused) resolve(Buffer.concat(chunks));
    };
    // After a refusal the promise has settled: an abort then is the client's, and needs no answer.
    const onError = (err: Error): void => {
      detach();
      if (!refused) reject(new TributaryError(ErrorCodes.CLOSED, 'request aborted', { cause: err }));
    };
    const onClose = (): void => {
      detach();
      if (!refused) reject(new TributaryError(ErrorCodes.CLOSED, 'request aborted'));
    };
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) refuse(`${declared} bytes`);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * {@link readBodyBytes} as text: the body must be UTF-8 (a `TributaryError` BAD_JSON otherwise,
 * since every text body the platform reads is JSON or a block's request).
 */
export async function readBody(req: IncomingMessage, max: number): Promise<string> {
  const bytes = await readBodyBytes(req, max);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new TributaryError(ErrorCodes.BAD_JSON, 'body is not valid UTF-8');
  }
}
