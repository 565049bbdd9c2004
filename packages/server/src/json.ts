import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/**
 * Writes a complete JSON response: the body, its Content-Type and Content-Length, and any `headers`
 * given (e.g. `www-authenticate`). A no-op when the headers were already sent — an error met after
 * a route started its answer cannot become a second response on the connection.
 */
export function json(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
