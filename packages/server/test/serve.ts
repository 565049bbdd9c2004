import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';

/** A loopback HTTP server on a free port running `handler`; `close()` stops it and its connections. */
export async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
): Promise<{ port: number; url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Writes `head` on a raw socket, then `body` pieces until the first response is in; resolves with
 * what came back (or '' when the connection was reset before anything arrived).
 */
export function rawExchange(port: number, head: string, pieces: Iterable<string | Buffer> = [], waitMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    const done = (): void => {
      socket.destroy();
      resolve(got);
    };
    socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', done);
    socket.write(head);
    const it = pieces[Symbol.iterator]();
    const next = (): void => {
      if (got.includes('\r\n\r\n') || socket.destroyed) return;
      const n = it.next();
      if (n.done === true) return;
      socket.write(n.value, () => setImmediate(next));
    };
    next();
    setTimeout(done, waitMs).unref();
  });
}
