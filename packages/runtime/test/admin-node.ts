import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import type { StreamEngine } from '@tributary/engine';
import { adminRoute, BlockNode } from '../src/index.js';
import { enginePublish, fixture } from './helpers.js';

/** A BlockNode behind the admin route on a loopback HTTP server, as the broker mounts it. */
export interface AdminNode {
  engine: StreamEngine;
  node: BlockNode;
  /** POST /v1/admin/blocks with a fixture's source: the status and the parsed reply. */
  deploy(fixtureName: string): Promise<{ status: number; body: { error?: { code: string; message: string }; name?: string } }>;
  /** DELETE /v1/admin/blocks/:name: the status. */
  remove(name: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * Starts a BlockNode on `engine` (one attempt per message, no retries) behind the real admin route,
 * so deploys take the path an operator's do and a refused block is a typed 4xx. `close()` stops the
 * server, the node and the engine.
 */
export async function startAdminNode(engine: StreamEngine): Promise<AdminNode> {
  const node = await BlockNode.start({ engine, publish: enginePublish(engine), pollMs: 20, retry: { attempts: 1, baseMs: 1, maxMs: 2 } });
  const route = adminRoute(node);
  const server: Server = createServer((req, res) => {
    route.handle(req, res, { admin: true, grants: {} }, new URL(req.url ?? '/', 'http://x')).catch((err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/admin/blocks`;
  return {
    engine,
    node,
    async deploy(name) {
      const source = await readFile(fixture(name), 'utf8');
      const res = await fetch(base, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source }) });
      return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string }; name?: string } };
    },
    remove: async (name) => (await fetch(`${base}/${name}`, { method: 'DELETE' })).status,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await node.close();
      await engine.close();
    },
  };
}

/** A block's kv counter as a number (0 when unset). */
export async function kvNumber(engine: StreamEngine, block: string, key: string): Promise<number> {
  return Number((await engine.kv.get(`block:${block}`, key)) ?? 0);
}
