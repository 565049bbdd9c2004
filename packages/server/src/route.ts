import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * What a grant allows on the channels its pattern covers. `request` is for request blocks: a grant
 * on `$blocks.<name>` (or `$blocks.*`) lets a token call `/v1/blocks/<name>/…`.
 */
export const Actions = ['subscribe', 'publish', 'history', 'presence', 'request'] as const;
export type Action = (typeof Actions)[number];

/** Grants carried by a token: channel name or pattern → allowed actions. */
export type Grants = Readonly<Record<string, readonly Action[]>>;

/** Who a connection or request acts as, as the broker verified it. */
export interface Principal {
  /** The token's subject; undefined for the server secret and insecure mode. */
  sub?: string;
  /** Expiry in ms since the Unix epoch, when the credentials expire. */
  expiresAt?: number;
  /** Server secret or insecure mode: every action on every channel, including `$` system channels. */
  admin: boolean;
  grants: Grants;
}

/**
 * An HTTP route mounted on the broker's port (blocks, images, the console, an application's own).
 * `handle` is called for requests under `prefix` with the caller's verified principal; it writes
 * the response itself. Errors it throws are answered like the broker's own routes'.
 */
export interface HttpRoute {
  prefix: string;
  /**
   * True: a request without an Authorization header reaches the route with an anonymous principal
   * (no grants, not admin) instead of being refused — for routes whose URL is the credential
   * (one-time upload tokens, signed image URLs) or that serve public content. A header that is
   * present is still verified.
   * @defaultValue false
   */
  allowAnonymous?: boolean;
  handle(req: IncomingMessage, res: ServerResponse, principal: Principal, url: URL): Promise<void>;
}
