import type { Entry, StreamEngine } from '@tributary/engine';
import { channelProblem, decodeEnvelope, ErrorCodes, TributaryError, type JsonValue } from '@tributary/protocol';
import { json, type HttpRoute, type Principal } from '@tributary/server';
import { mayReadChannel } from './lineage.js';

/** Where `GET /v1/trace/<channel>/<offset>` lives. */
export const TRACE_PATH = '/v1/trace/';

/**
 * Steps walked at most. Lineage only points back, and each step is one block hop, so a chain is
 * at most the hop limit long; the bound stops a forged envelope from looping the walk.
 */
export const MAX_TRACE_STEPS = 64;

/** One message of a trace, newest first. */
export interface TraceStep {
  channel: string;
  offset: number;
  epoch: string;
  /** The block (and version) that published this message; absent on the original. */
  block?: string;
  version?: string;
  /** When it was stored, ms since the Unix epoch. */
  time: number;
  /**
   * From its parent being stored to this being stored, ms: the wait in the block's consumer group
   * plus the invocation up to this publish. Absent on the original, and when the parent is gone.
   */
  spentMs?: number;
  data: JsonValue;
  traceparent?: string;
}

/** The reply of the trace route. */
export interface TraceReply {
  steps: TraceStep[];
  /** The walk stopped at a parent whose channel the caller may not read. */
  truncated?: true;
  /** The walk stopped at a parent no longer retained (trimmed, or its channel's history reset). */
  missing?: { channel: string; offset: number; epoch: string };
}

/**
 * Walks a message's lineage back to the original message: the asked one first, then its parent,
 * and so on. The caller needs `subscribe` or `history` on the asked channel; a parent on a channel
 * it may not read ends the walk with `truncated`, so a trace never shows more than the caller
 * could read itself.
 */
export async function traceMessage(engine: StreamEngine, principal: Principal, channel: string, offset: number): Promise<TraceReply> {
  if (!mayReadChannel(principal, channel)) {
    throw new TributaryError(ErrorCodes.FORBIDDEN, `no subscribe or history grant for ${channel}`, { channel });
  }
  const first = await entryAt(engine, channel, offset, undefined);
  if (first === undefined) throw new TributaryError(ErrorCodes.NOT_FOUND, `no message ${offset} retained on ${channel}`, { channel });
  const reply: TraceReply = { steps: [] };
  let entry: Entry = first;
  for (;;) {
    const env = decodeEnvelope(entry.meta);
    const step: TraceStep = {
      channel: entry.channel,
      offset: entry.offset,
      epoch: entry.epoch,
      time: entry.time,
      data: JSON.parse(entry.payload) as JsonValue,
    };
    if (env.lineage !== undefined) {
      step.block = env.lineage.block;
      step.version = env.lineage.version;
    }
    if (env.traceparent !== undefined) step.traceparent = env.traceparent;
    reply.steps.push(step);
    const p = env.lineage;
    if (p === undefined) return reply;
    if (reply.steps.length >= MAX_TRACE_STEPS || !mayReadChannel(principal, p.channel)) {
      reply.truncated = true;
      return reply;
    }
    const parent = await entryAt(engine, p.channel, p.offset, p.epoch);
    if (parent === undefined) {
      reply.missing = { channel: p.channel, offset: p.offset, epoch: p.epoch };
      return reply;
    }
    step.spentMs = entry.time - parent.time;
    entry = parent;
  }
}

/** The retained entry at `offset` (in `epoch`, when given), or undefined. */
async function entryAt(engine: StreamEngine, channel: string, offset: number, epoch: string | undefined): Promise<Entry | undefined> {
  const r = await engine.read(channel, { after: offset - 1, limit: 1 });
  const e = r.entries[0];
  if (e === undefined || e.offset !== offset || (epoch !== undefined && e.epoch !== epoch)) return undefined;
  return e;
}

/** `GET /v1/trace/<channel>/<offset>` (docs/PROTOCOL.md, HTTP API): a client token or the broker secret. */
export function traceRoute(engine: StreamEngine): HttpRoute {
  return {
    prefix: TRACE_PATH,
    async handle(req, res, principal, url) {
      const m = /^\/v1\/trace\/([^/]+)\/(\d{1,15})$/.exec(url.pathname);
      if (m === null || req.method !== 'GET') {
        throw new TributaryError(ErrorCodes.NOT_FOUND, `no route for ${req.method} ${url.pathname} (GET ${TRACE_PATH}<channel>/<offset>)`);
      }
      let channel: string;
      try {
        channel = decodeURIComponent(m[1] as string);
      } catch {
        throw new TributaryError(ErrorCodes.INVALID_CHANNEL, 'channel in the URL has broken percent-encoding');
      }
      const problem = channelProblem(channel, false);
      if (problem !== undefined) throw new TributaryError(ErrorCodes.INVALID_CHANNEL, `channel ${problem}`);
      const offset = Number(m[2]);
      if (offset < 1) throw new TributaryError(ErrorCodes.INVALID_FRAME, 'offset must be 1 or more');
      json(res, 200, await traceMessage(engine, principal, channel, offset));
    },
  };
}
