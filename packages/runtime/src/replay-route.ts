import { ErrorCodes, TributaryError, type JsonValue } from '@tributary/protocol';
import { json, readBody as readBodyOf, type HttpRoute } from '@tributary/server';
import { compileSource, versionOf, type CompiledBlock } from './compile.js';
import { BlockError } from './errors.js';
import type { BodyReader } from './http.js';
import { replayBlock, type ReplayDeps, type ReplayRequest } from './replay.js';

/** Where replays are asked for. */
export const REPLAY_PATH = '/v1/admin/replay';

const MAX_BUNDLE_BYTES = 5 * 1024 * 1024;

/**
 * `POST /v1/admin/replay` (docs/PROTOCOL.md, Admin API): body `{source | code, config?, from,
 * since?, limit?, into?}` → the replay's report (see {@link replayBlock}). Admin only. A version that
 * fails to compile or load, or is not an after-publish block, is answered 422 with the block's code.
 */
export function replayRoute(deps: ReplayDeps, readBody: BodyReader = readBodyOf): HttpRoute {
  return {
    prefix: REPLAY_PATH,
    async handle(req, res, caller, url) {
      if (!caller.admin) throw new TributaryError(ErrorCodes.FORBIDDEN, 'the admin API needs the broker secret');
      if (url.pathname.replace(/\/$/, '') !== REPLAY_PATH || req.method !== 'POST') {
        throw new TributaryError(ErrorCodes.NOT_FOUND, `no route for ${req.method} ${url.pathname}`);
      }
      // A replay runs one input after another for up to minutes: once the caller is gone, no one
      // reads the report, and with `into` it would go on publishing.
      const gone = new AbortController();
      res.once('close', () => gone.abort());
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(await readBody(req, MAX_BUNDLE_BYTES)) as Record<string, unknown>;
      } catch (err) {
        if (err instanceof SyntaxError) throw new TributaryError(ErrorCodes.BAD_JSON, 'body is not valid JSON');
        throw err;
      }
      if (typeof body !== 'object' || body === null) throw invalid('body must be a JSON object');
      if (typeof body.code !== 'string' && typeof body.source !== 'string')
        throw invalid('body needs "code" (a bundle) or "source" (TypeScript)');
      if (typeof body.from !== 'string') throw invalid('body needs "from": the channel to replay');
      if (body.config !== undefined && (typeof body.config !== 'object' || body.config === null || Array.isArray(body.config))) {
        throw invalid('config must be an object');
      }
      if (body.into !== undefined && typeof body.into !== 'string') throw invalid('into must be a channel prefix');
      if (body.limit !== undefined && typeof body.limit !== 'number') throw invalid('limit must be a number');
      try {
        const compiled: CompiledBlock =
          typeof body.code === 'string' ? { code: body.code, version: versionOf(body.code) } : await compileSource(body.source as string);
        const request: ReplayRequest = { compiled, from: body.from, signal: gone.signal };
        if (body.config !== undefined) request.config = body.config as Record<string, JsonValue>;
        const since = parseSince(body.since);
        if (since !== undefined) request.since = since;
        if (typeof body.limit === 'number') request.limit = body.limit;
        if (typeof body.into === 'string') request.into = body.into;
        return json(res, 200, await replayBlock(deps, request));
      } catch (err) {
        if (err instanceof BlockError) return json(res, 422, { error: { code: err.code, message: err.message } });
        throw err;
      }
    },
  };
}

/** `since`: an offset (digits, exclusive) or an ISO 8601 time (inclusive). */
export function parseSince(since: unknown): ReplayRequest['since'] {
  if (since === undefined || since === null) return undefined;
  if (typeof since === 'number' && Number.isSafeInteger(since) && since >= 0) return { offset: since };
  if (typeof since === 'string' && /^\d{1,15}$/.test(since)) return { offset: Number(since) };
  if (typeof since === 'string' && /^\d{4}-\d{2}-\d{2}/.test(since)) {
    const time = Date.parse(since);
    if (Number.isFinite(time)) return { time };
  }
  throw invalid('since must be an offset or an ISO 8601 time (2026-12-07T10:00:00Z)');
}

function invalid(message: string): TributaryError {
  return new TributaryError(ErrorCodes.INVALID_FRAME, message);
}
