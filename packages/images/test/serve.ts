import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TributaryError } from '@tributary/protocol';
import { httpStatusOf, type HttpRoute } from '@tributary/server';

/**
 * The image routes on a plain HTTP server on loopback, as the broker mounts them: the first route
 * whose prefix matches handles the request for one caller (an admin unless told otherwise), and an
 * error the route throws instead of answering gets its code's status — or 500 (INTERNAL) when it
 * has none, which is what the hostile tests look for.
 */
export async function serveRoutes(
  routes: HttpRoute[],
  caller = { admin: true, grants: {} },
): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = routes.find((r) => url.pathname.startsWith(r.prefix));
    if (route === undefined) return void res.writeHead(404).end();
    route.handle(req, res, caller, url).catch((err: unknown) => {
      if (res.headersSent) res.destroy();
      else res.writeHead(err instanceof TributaryError ? httpStatusOf(err.code) : 500).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(undefined)));
    },
  };
}
