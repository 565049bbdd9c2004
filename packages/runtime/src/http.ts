import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, TributaryError, type JsonValue } from '@tributary/protocol';
import type { BlockRequest } from '@tributary/block';
import { BlockError, BlockErrorCodes } from './errors.js';
import { compileSource, versionOf } from './compile.js';
import type { BlockNode } from './node.js';

/** The caller as the broker verified it. */
export interface Caller {
  admin: boolean;
}

/** Reads a request body (the broker passes its bounded reader). */
export type BodyReader = (req: IncomingMessage, max: number) => Promise<string>;

const MAX_BUNDLE_BYTES = 5 * 1024 * 1024;
const MAX_REQUEST_BYTES = 1024 * 1024;
/** `<block>/dlq`, `<block>/dlq/<offset>/replay`, `<block>/dlq/<offset>/drop` under /v1/admin/blocks/. */
const DLQ_ROUTE = /^([^/]+)\/dlq(?:\/(\d{1,15})\/(replay|drop))?$/;

/**
 * Admin API for blocks (`/v1/admin/blocks`): list, deploy a bundle (or one TypeScript source file),
 * remove, and the dead-letter routes. Admin only (the broker secret, or insecure mode).
 */
export function adminRoute(node: BlockNode, readBody: BodyReader) {
  return {
    prefix: '/v1/admin/blocks',
    async handle(req: IncomingMessage, res: ServerResponse, caller: Caller, url: URL): Promise<void> {
      if (!caller.admin) throw new TributaryError(ErrorCodes.FORBIDDEN, 'the admin API needs the broker secret');
      const name = blockPath(url.pathname.slice('/v1/admin/blocks'.length).replace(/^\//, ''));
      if (req.method === 'GET' && name === '') return send(res, 200, { blocks: node.runner.list() });
      const dlq = DLQ_ROUTE.exec(name);
      if (dlq !== null) return await deadLetterRoute(node, req, res, dlq[1] as string, dlq[2], dlq[3], url);
      if (req.method === 'POST' && name === '') {
        const body = parseJson(await readBody(req, MAX_BUNDLE_BYTES)) as { code?: unknown; source?: unknown; config?: unknown };
        if (typeof body.code !== 'string' && typeof body.source !== 'string') {
          throw new TributaryError(ErrorCodes.INVALID_FRAME, 'body must be {"code": "<bundle>"} or {"source": "<TypeScript>"}, with "config"?: {}');
        }
        const config = (body.config ?? {}) as Record<string, JsonValue>;
        try {
          const compiled = typeof body.code === 'string' ? { code: body.code, version: versionOf(body.code) }
            : await compileSource(body.source as string);
          const info = await node.deploy(compiled, config);
          return send(res, 201, info);
        } catch (err) {
          if (err instanceof BlockError) return send(res, 422, { error: { code: err.code, message: err.message } });
          throw err;
        }
      }
      if (req.method === 'DELETE' && name !== '') {
        if (!(await node.remove(name))) throw new TributaryError(ErrorCodes.NOT_FOUND, `no block ${name}`);
        return send(res, 200, { removed: name });
      }
      throw new TributaryError(ErrorCodes.NOT_FOUND, `no route for ${req.method} ${url.pathname}`);
    },
  };
}

async function deadLetterRoute(node: BlockNode, req: IncomingMessage, res: ServerResponse, block: string,
  offset: string | undefined, action: string | undefined, url: URL): Promise<void> {
  if (offset === undefined && req.method === 'GET') {
    const raw = url.searchParams.get('limit');
    const limit = raw === null ? 100 : Number(raw);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new TributaryError(ErrorCodes.INVALID_FRAME, 'limit must be an integer from 1 to 1000');
    return send(res, 200, { block, ...(await node.deadLetters.list(block, limit)) });
  }
  if (offset === undefined || req.method !== 'POST') throw new TributaryError(ErrorCodes.NOT_FOUND, `no route for ${req.method} ${url.pathname}`);
  if (action === 'drop') return send(res, 200, { block, dropped: await node.deadLetters.drop(block, Number(offset)) });
  try {
    return send(res, 200, { block, replayed: await node.deadLetters.replay(block, Number(offset)) });
  } catch (err) {
    // The handler failed again: a typed block error, and the entry stays in the dead-letter list.
    if (err instanceof BlockError) return send(res, 422, { error: { code: err.code, message: err.message } });
    throw err;
  }
}

/** A block name (or admin path) from the URL; broken percent-encoding names no block, so it is NOT_FOUND, not a URIError (500). */
function blockPath(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new TributaryError(ErrorCodes.NOT_FOUND, 'no block by that name: the URL has broken percent-encoding');
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new TributaryError(ErrorCodes.BAD_JSON, 'body is not valid JSON');
  }
}

/**
 * Request-triggered blocks: `/v1/blocks/<name>/<path>` → the block's response. `mayCall` decides
 * who may call which block (the CLI wires the broker's grants: `request` on `$blocks.<name>`).
 */
export function requestRoute(node: BlockNode, readBody: BodyReader, mayCall: (caller: Caller, block: string) => boolean = (c) => c.admin) {
  return {
    prefix: '/v1/blocks/',
    async handle(req: IncomingMessage, res: ServerResponse, caller: Caller, url: URL): Promise<void> {
      const rest = url.pathname.slice('/v1/blocks/'.length);
      const slash = rest.indexOf('/');
      const name = blockPath(slash === -1 ? rest : rest.slice(0, slash));
      if (!mayCall(caller, name)) {
        throw new TributaryError(ErrorCodes.FORBIDDEN, `calling block ${name} needs a request grant on $blocks.${name}`);
      }
      const text = req.method === 'GET' || req.method === 'HEAD' ? '' : await readBody(req, MAX_REQUEST_BYTES);
      let body: JsonValue | string | undefined;
      if (text !== '') {
        try {
          body = JSON.parse(text) as JsonValue;
        } catch {
          body = text;
        }
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        // Credentials stay with the broker; the block sees the rest.
        if (typeof v === 'string' && k !== 'authorization' && k !== 'cookie') headers[k] = v;
      }
      const request: BlockRequest = {
        method: req.method ?? 'GET',
        path: slash === -1 ? '/' : rest.slice(slash),
        query: Object.fromEntries(url.searchParams),
        headers,
        body,
      };
      let response;
      try {
        response = await node.runner.handleRequest(name, request);
      } catch (err) {
        const code = err instanceof BlockError ? err.code : BlockErrorCodes.HANDLER_ERROR;
        return send(res, 502, { error: { code, message: `block ${name} failed: ${(err as Error).message}` } });
      }
      if (response === undefined) throw new TributaryError(ErrorCodes.NOT_FOUND, `no request block ${name}`);
      const status = Number.isInteger(response.status) && (response.status as number) >= 100 && (response.status as number) < 600
        ? (response.status as number) : 200;
      const outHeaders: Record<string, string> = {};
      for (const [k, v] of Object.entries(response.headers ?? {})) if (typeof v === 'string') outHeaders[k.toLowerCase()] = v;
      if (typeof response.body === 'string') {
        outHeaders['content-type'] ??= 'text/plain; charset=utf-8';
        res.writeHead(status, outHeaders).end(response.body);
      } else {
        outHeaders['content-type'] ??= 'application/json; charset=utf-8';
        res.writeHead(status, outHeaders).end(response.body === undefined ? '' : JSON.stringify(response.body));
      }
    },
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
