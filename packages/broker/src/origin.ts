import type { IncomingHttpHeaders } from 'node:http';

/** What {@link originProblem} needs of the broker's options. */
export interface OriginPolicy {
  insecure: boolean;
  allowedOrigins: readonly string[];
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * Why a request must be refused for where it came from, or undefined when it may go on.
 *
 * Browsers attach `Origin` to every cross-site WebSocket handshake and state-changing fetch, and to
 * nothing else a page can't already do; a request without it is not from a page, and is judged by
 * its credentials alone. Two attacks are closed here:
 * - cross-site WebSocket hijacking, and in insecure mode any page driving the broker's HTTP API
 *   (deploying a block, publishing): only the broker's own origin, configured `allowedOrigins` and,
 *   in insecure mode, loopback origins pass;
 * - DNS rebinding against insecure mode: a page on `http://evil.example:7700` whose name resolves
 *   to 127.0.0.1 is same-origin to itself, so the `Host` it sends must be a loopback name.
 */
export function originProblem(headers: IncomingHttpHeaders, policy: OriginPolicy): string | undefined {
  const host = headers.host;
  if (policy.insecure && host !== undefined && !LOOPBACK_NAMES.has(hostnameOf(host))) {
    return `insecure mode serves loopback hosts only, not Host ${JSON.stringify(host.slice(0, 100))}`;
  }
  const origin = headers.origin;
  if (origin === undefined || policy.allowedOrigins.includes('*') || policy.allowedOrigins.includes(origin)) return undefined;
  if (host !== undefined && (origin === `http://${host}` || origin === `https://${host}`)) return undefined;
  if (policy.insecure && isLoopbackOrigin(origin)) return undefined;
  return `origin ${JSON.stringify(origin.slice(0, 100))} is not allowed (see the allowedOrigins option)`;
}

/** `host[:port]` or `[v6]:port` → the host part, lower-cased, brackets kept for IPv6. */
function hostnameOf(host: string): string {
  const h = host.toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.indexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

function isLoopbackOrigin(origin: string): boolean {
  try {
    const u = new URL(origin);
    return (u.protocol === 'http:' || u.protocol === 'https:') && LOOPBACK_NAMES.has(u.hostname);
  } catch {
    return false;
  }
}
