import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, TributaryError, type JsonValue } from '@tributary/protocol';
import type { BlockRequest } from '@tributary/block';
import { json, readBody as readBodyOf, type HttpRoute, type Principal } from '@tributary/server';
import { BlockError, BlockErrorCodes } from './errors.js';
import { compileSource, versionOf } from './compile.js';
import type { BlockNode } from './node.js';

/**
 * Reads a request body of at most `max` bytes. The routes use @tributary/server's `readBody` unless
 * given another (a test's); every reader must refuse a body over `max` with PAYLOAD_TOO_LARGE.
 */
export type BodyReader = (req: IncomingMessage, max: number) => Promise<string>;

/**
 * A block that fails a deploy or a dead-letter replay, whatever its code, is answered 422: the
 * operator's request was understood, and the block refused it (the typed code says why).
 */
const BLOCK_REFUSED_STATUS = 422;
/**
 * A request block that fails, whatever its code, is answered 502: the block is the upstream that
 * failed. Even a code the protocol answers otherwise (a block's own publish hitting RATE_LIMITED or
 * HOP_LIMIT) is the block's failure here, not the caller's.
 */
const BLOCK_FAILED_STATUS = 502;

const MAX_BUNDLE_BYTES = 5 * 1024 * 1024;
const MAX_REQUEST_BYTES = 1024 * 1024;
/** `<block>/dlq`, `<block>/dlq/<offset>/replay`, `<block>/dlq/<offset>/drop` under /v1/admin/blocks/. */
const DLQ_ROUTE = /^([^/]+)\/dlq(?:\/(\d{1,15})\/(replay|drop))?$/;

/**
 * Admin API for blocks (`/v1/admin/blocks`): list, deploy a bundle (or one TypeScript source file),
 * remove, and the dead-letter routes. Admin only (the broker secret, or insecure mode).
 */
export function adminRoute(node: BlockNode, readBody: BodyReader = readBodyOf): HttpRoute {
  return {
    prefix: '/v1/admin/blocks',
    async handle(req, res, caller, url) {
      if (!caller.admin) throw new TributaryError(ErrorCodes.FORBIDDEN, 'the admin API needs the broker secret');
      const name = blockPath(url.pathname.slice('/v1/admin/blocks'.length).replace(/^\//, ''));
      if (req.method === 'GET' && name === '') return json(res, 200, { blocks: node.runner.list() });
      const dlq = DLQ_ROUTE.exec(name);
      if (dlq !== null) return await deadLetterRoute(node, req, res, dlq[1] as string, dlq[2], dlq[3], url);
      if (req.method === 'POST' && name === '') {
        const body = parseJson(await readBody(req, MAX_BUNDLE_BYTES)) as { code?: unknown; source?: unknown; config?: unknown };
        if (typeof body.code !== 'string' && typeof body.source !== 'string') {
          throw new TributaryError(
            ErrorCodes.INVALID_FRAME,
            'body must be {"code": "<bundle>"} or {"source": "<TypeScript>"}, with "config"?: {}',
          );
        }
        const config = (body.config ?? {}) as Record<string, JsonValue>;
        try {
          const compiled =
            typeof body.code === 'string' ? { code: body.code, version: versionOf(body.code) } : await compileSource(body.source as string);
          const info = await node.deploy(compiled, config);
          return json(res, 201, info);
        } catch (err) {
          if (err instanceof BlockError) return json(res, BLOCK_REFUSED_STATUS, { error: { code: err.code, message: err.message } });
          throw err;
        }
      }
      if (req.method === 'DELETE' && name !== '') {
        if (!(await node.remove(name))) throw new TributaryError(ErrorCodes.NOT_FOUND, `no block ${name}`);
        return json(res, 200, { removed: name });
      }
      throw new TributaryError(ErrorCodes.NOT_FOUND, `no route for ${req.method} ${url.pathname}`);
    },
  };
}

async function deadLetterRoute(
  node: BlockNode,
  req: IncomingMessage,
  res: ServerResponse,
  block: string,
  offset: string | undefined,
  action: string | undefined,
  url: URL,
): Promise<void> {
  if (offset === undefined && req.method === 'GET') {
    const raw = url.searchParams.get('limit');
    const limit = raw === null ? 100 : Number(raw);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new TributaryError(ErrorCodes.INVALID_FRAME, 'limit must be an integer from 1 to 1000');
    return json(res, 200, { block, ...(await node.deadLetters.list(block, limit)) });
  }
  if (offset === undefined || req.method !== 'POST')
    throw new TributaryError(ErrorCodes.NOT_FOUND, `no route for ${req.method} ${url.pathname}`);
  if (action === 'drop') return json(res, 200, { block, dropped: await node.deadLetters.drop(block, Number(offset)) });
  try {
    return json(res, 200, { block, replayed: await node.deadLetters.replay(block, Number(offset)) });
  } catch (err) {
    // The handler failed again: a typed block error, and the entry stays in the dead-letter list.
    if (err instanceof BlockError) return json(res, BLOCK_REFUSED_STATUS, { error: { code: err.code, message: err.message } });
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
export function requestRoute(
  node: BlockNode,
  readBody: BodyReader = readBodyOf,
  mayCall: (caller: Principal, block: string) => boolean = (c) => c.admin,
): HttpRoute {
  return {
    prefix: '/v1/blocks/',
    async handle(req, res, caller, url) {
      // On every answer of the route, errors included (the broker's own writeHead keeps them).
      for (const [k, v] of Object.entries(BLOCK_RESPONSE_HEADERS)) res.setHeader(k, v);
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
      let out: CheckedResponse | undefined;
      try {
        const response = await node.runner.handleRequest(name, request);
        out = response === undefined ? undefined : checkBlockResponse(name, response);
      } catch (err) {
        const code = err instanceof BlockError ? err.code : BlockErrorCodes.HANDLER_ERROR;
        return json(res, BLOCK_FAILED_STATUS, { error: { code, message: `block ${name} failed: ${(err as Error).message}` } });
      }
      if (out === undefined) throw new TributaryError(ErrorCodes.NOT_FOUND, `no request block ${name}`);
      // The framing is the broker's: its own Content-Length for the body it writes, nothing else
      // (204 and 304 have no body, so neither).
      const bodyless = out.status === 204 || out.status === 304;
      if (!bodyless) out.headers['content-length'] = String(out.body.length);
      const { 'content-security-policy': csp, ...outHeaders } = out.headers;
      if (csp !== undefined) res.setHeader('content-security-policy', [BLOCK_CSP, csp]);
      res.writeHead(out.status, outHeaders);
      res.end(bodyless ? undefined : out.body);
    },
  };
}

/**
 * What every answer under /v1/blocks/ carries. Request blocks answer on the broker's origin, the
 * console's: `sandbox` makes a page a block serves run in a unique origin without scripts, and
 * nosniff stops a browser from reading a text answer as HTML or script.
 */
export const BLOCK_RESPONSE_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "sandbox; default-src 'none'",
};
const BLOCK_CSP = BLOCK_RESPONSE_HEADERS['content-security-policy'] as string;

/**
 * Headers a request block may not set, refused as BAD_RESULT: the message framing and hop-by-hop
 * headers (a block's own Content-Length or Transfer-Encoding would let its body become a second
 * response on a keep-alive connection), cookies on the broker's origin, and nosniff, which the broker
 * sets. A block's Content-Security-Policy is sent next to the broker's, so it can only restrict more.
 */
export const BLOCK_FORBIDDEN_HEADERS: readonly string[] = [
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-*',
  'set-cookie',
  'set-cookie2',
  'x-content-type-options',
  // Headers a browser applies to the whole origin (the console's), not to this one response: they
  // would let one block wipe the console's storage, pin HSTS, prompt for credentials on the
  // broker's name, move its traffic elsewhere, or collect its reports.
  'clear-site-data',
  'strict-transport-security',
  'www-authenticate',
  'alt-svc',
  'refresh',
  'nel',
  'report-to',
  'reporting-endpoints',
  'service-worker-allowed',
];

/** RFC 9110 token: what a field name may consist of. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Field values: visible ASCII, space, tab and obs-text; never CR, LF or NUL. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const MAX_HEADERS = 64;
const MAX_HEADER_BYTES = 8192;

/** A request block's response once checked: what the broker writes. */
export interface CheckedResponse {
  status: number;
  /** Lower-cased names. */
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Checks what a request block returned and turns it into the response the broker writes, or throws
 * BlockError(BAD_RESULT) naming the problem: `status` absent (200) or an integer 200–599 (an interim
 * 1xx would make the body read as a second response); `headers` absent or an object of at most 64
 * field names (tokens, not in {@link BLOCK_FORBIDDEN_HEADERS}) to string values without CR, LF or NUL;
 * `body` a string (sent as text/plain unless the block set a Content-Type) or any other JSON value
 * (sent as JSON).
 */
export function checkBlockResponse(block: string, r: unknown): CheckedResponse {
  const bad = (why: string): never => {
    throw new BlockError(BlockErrorCodes.BAD_RESULT, `block ${block} returned ${why}`, { block });
  };
  if (typeof r !== 'object' || r === null || Array.isArray(r)) bad('no { status?, headers?, body? } object');
  const { status = 200, headers = {}, body } = r as { status?: unknown; headers?: unknown; body?: unknown };
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) {
    bad(`status ${JSON.stringify(status)}: it must be an integer from 200 to 599`);
  }
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) bad('headers that are not an object of name → string');
  const entries = Object.entries(headers as Record<string, unknown>);
  if (entries.length > MAX_HEADERS) bad(`${entries.length} headers; at most ${MAX_HEADERS} are allowed`);
  const out = Object.create(null) as Record<string, string>;
  let bytes = 0;
  for (const [rawName, value] of entries) {
    const name = rawName.toLowerCase();
    if (!TOKEN.test(name)) bad(`a header name that is not an HTTP token: ${JSON.stringify(rawName)}`);
    if (BLOCK_FORBIDDEN_HEADERS.includes(name) || name.startsWith('proxy-')) {
      bad(
        `a ${name} header, which a request block may not set (the broker frames the response, and headers that act on its whole origin are its own)`,
      );
    }
    if (typeof value !== 'string') bad(`header ${name} with a ${typeof value} value; values are strings`);
    if (!FIELD_VALUE.test(value as string)) bad(`header ${name} with a control character (CR, LF, NUL …) in its value`);
    if (Object.hasOwn(out, name)) bad(`header ${name} twice (names are case-insensitive)`);
    bytes += name.length + (value as string).length;
    out[name] = value as string;
  }
  if (bytes > MAX_HEADER_BYTES) bad(`${bytes} bytes of headers; at most ${MAX_HEADER_BYTES} are allowed`);
  if (typeof body === 'string') {
    out['content-type'] ??= 'text/plain; charset=utf-8';
    return { status: status as number, headers: out, body: Buffer.from(body, 'utf8') };
  }
  out['content-type'] ??= 'application/json; charset=utf-8';
  return { status: status as number, headers: out, body: Buffer.from(body === undefined ? '' : JSON.stringify(body), 'utf8') };
}
