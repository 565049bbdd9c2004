import { ErrorCodes, TributaryError } from '@tributary/protocol';
import { json, type HttpRoute } from '@tributary/server';
import type { BlockNode } from './node.js';

/** Where the runtime's topology is served. */
export const TOPOLOGY_PATH = '/v1/admin/topology';

/**
 * `GET /v1/admin/topology`: the blocks runtime's graph of channels, patterns and blocks with rates,
 * errors and consumer lag (docs/OPERATIONS.md, Topology). Admin only (the broker secret, or
 * insecure mode): it names every block and the channels they write.
 */
export function topologyRoute(node: BlockNode): HttpRoute {
  return {
    prefix: TOPOLOGY_PATH,
    async handle(req, res, caller, url) {
      if (!caller.admin) throw new TributaryError(ErrorCodes.FORBIDDEN, 'the admin API needs the broker secret');
      // The prefix also matches /v1/admin/topologyX: only the path itself is the route.
      if (url.pathname.replace(/\/$/, '') !== TOPOLOGY_PATH || req.method !== 'GET') {
        throw new TributaryError(ErrorCodes.NOT_FOUND, `no route for ${req.method} ${url.pathname}`);
      }
      json(res, 200, await node.topology.snapshot());
    },
  };
}
