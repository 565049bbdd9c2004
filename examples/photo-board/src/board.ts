import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createToken, json, type Grants, type HttpRoute } from '@tributary/broker';
import { startNode, type NodeOptions, type TributaryNode } from '@tributary/node';
import { MemoryEngine, type StreamEngine } from '@tributary/engine';
import type { Logger } from 'pino';

/** The repository's image-transform block: makes the `thumb` and `large` sizes of every upload. */
export const IMAGE_TRANSFORM_BLOCK = fileURLToPath(new URL('../../../blocks/image-transform', import.meta.url));
const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url));

/**
 * What the page needs, and nothing more: request upload tokens (`publish` on the `$uploads` system
 * channel — wildcards never cover it, so it is named) and see results and failures.
 */
export const PAGE_GRANTS: Grants = { $uploads: ['publish'], 'images.>': ['subscribe'] };

/** Options of {@link startPhotoBoard}. */
export interface PhotoBoardOptions {
  /** @defaultValue 7700; 0 picks a free port */
  port?: number;
  /** @defaultValue '127.0.0.1' (insecure mode is refused on anything but loopback) */
  host?: string;
  /**
   * The broker secret. Without it the node runs in insecure mode (no auth; local development).
   * With it, the page needs a token with {@link PAGE_GRANTS} in its URL fragment (`#token=…`).
   */
  secret?: string;
  /** @defaultValue a new MemoryEngine, closed with the board */
  engine?: StreamEngine;
  /** Blob store directory. @defaultValue a new temporary directory, removed with the board */
  dataDir?: string;
  /**
   * Keep the blobs on S3 or an S3-compatible store instead (`dataDir` then holds only the image
   * cache): the options of `S3BlobStore` (@tributary/images). @defaultValue the disk store in `dataDir`
   */
  s3?: NonNullable<NodeOptions['images']>['s3'];
  logger?: Logger;
}

/** A running photo board: a Tributary node with images, the image-transform block and the page. */
export interface PhotoBoard {
  /** The page: http://host:port/ */
  url: string;
  node: TributaryNode;
  /** A token for the page (secure mode only): open `${url}#token=${token}`. */
  pageToken(ttlSeconds?: number): Promise<string | undefined>;
  close(): Promise<void>;
}

const PAGE_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

// Same origin for everything (page, uploads, blobs, WebSocket), so no CORS; no inline script or
// style, so the policy needs no 'unsafe-inline'.
const CSP =
  "default-src 'self'; img-src 'self' data:; connect-src 'self'; style-src 'self'; script-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The page's static files as an HTTP route. Public (no credentials): the token is in the fragment, which never reaches a server. */
export async function pageRoute(): Promise<HttpRoute> {
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const [path, { file, type }] of Object.entries(PAGE_FILES)) files.set(path, { body: await readFile(join(PUBLIC_DIR, file)), type });
  return {
    prefix: '/',
    allowAnonymous: true,
    async handle(req: IncomingMessage, res: ServerResponse, _principal, url: URL): Promise<void> {
      const f = files.get(url.pathname);
      if (f === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) {
        return json(res, 404, { error: { code: 'NOT_FOUND', message: `no route for ${req.method} ${url.pathname}` } });
      }
      res.writeHead(200, {
        'content-type': f.type,
        'content-length': f.body.length,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        'content-security-policy': CSP,
        'referrer-policy': 'no-referrer',
      });
      res.end(req.method === 'HEAD' ? undefined : f.body);
    },
  };
}

/**
 * Starts a node (broker + blocks runtime + images) with the image-transform block deployed and the
 * page served at `/` on the broker's own port, so the page talks to the broker same-origin.
 */
export async function startPhotoBoard(o: PhotoBoardOptions = {}): Promise<PhotoBoard> {
  const ownEngine = o.engine === undefined;
  const engine = o.engine ?? new MemoryEngine();
  const ownData = o.dataDir === undefined;
  const dataDir = o.dataDir ?? (await mkdtemp(join(tmpdir(), 'photo-board-')));
  const secret = o.secret;
  let node: TributaryNode | undefined;
  try {
    node = await startNode({
      engine,
      auth: secret === undefined ? { insecure: true } : { secret },
      port: o.port ?? 7700,
      host: o.host ?? '127.0.0.1',
      ...(o.logger === undefined ? {} : { logger: o.logger }),
      images: { dataDir, ...(o.s3 === undefined ? {} : { s3: o.s3 }) },
      // The page is served on the broker's port after every built-in route, so one origin serves
      // page, uploads, blobs and WebSocket.
      routes: [await pageRoute()],
    });
    await node.blocks.deployFolder(IMAGE_TRANSFORM_BLOCK);
  } catch (err) {
    await node?.close();
    if (ownEngine) await engine.close();
    if (ownData) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const started = node;
  return {
    url: `${started.broker.url}/`,
    node: started,
    async pageToken(ttlSeconds = 3600) {
      if (secret === undefined) return undefined;
      return createToken({ secret, sub: 'photo-board', grants: PAGE_GRANTS, ttlSeconds });
    },
    async close() {
      await started.close();
      if (ownEngine) await engine.close();
      if (ownData) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
