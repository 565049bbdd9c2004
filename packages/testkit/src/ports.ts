import { createServer } from 'node:net';

/** Ports this process handed out: the OS may give a just-closed port to the next bind(0) again. */
const handed = new Set<number>();

/**
 * A TCP port that was free on 127.0.0.1 a moment ago (the OS picks it; we close and hand it on),
 * never one this process handed out before: two servers started at once (a Redis and an S3 server
 * in one Promise.all) could otherwise both be told the port the first one has not bound yet.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await osPort();
    if (handed.has(port)) continue;
    handed.add(port);
    return port;
  }
}

function osPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
