import type { IncomingMessage, ServerResponse } from 'node:http';
import { compilePattern, ErrorCodes, isPattern, TributaryError } from '@tributary/protocol';
import { json, type Principal } from '@tributary/server';
import type { BrokerContext } from './context.js';

/** The broker's own admin routes; blocks add theirs under /v1/admin/blocks. */
export const ADMIN_OVERVIEW_PATH = '/v1/admin/overview';
export const ADMIN_CHANNELS_PATH = '/v1/admin/channels';

/** One row of `GET /v1/admin/channels`. Node-local: what this broker process has seen. */
export interface ChannelRow {
  channel: string;
  /** `$`-prefixed system channel ($dlq.…, $logs.…). */
  system: boolean;
  /**
   * WebSocket subscriptions on this node that this channel's messages reach: those to exactly this
   * name plus those to a pattern it matches (a `chat.*` subscriber counts on `chat.lobby`).
   */
  subscribers: number;
  /** The part of {@link subscribers} that is subscribed through patterns (listed in `patterns`). */
  patternSubscribers: number;
  /** Messages stored through this node per second over the last 10 s. */
  ratePerSec: number;
  /** Latest offset stored through this node; null when none was (e.g. subscribed, published elsewhere). */
  lastOffset: number | null;
  epoch: string | null;
  lastTime: number | null;
}

/** True for the paths {@link handleAdmin} answers. */
export function isBrokerAdminPath(pathname: string): boolean {
  return pathname === ADMIN_OVERVIEW_PATH || pathname === ADMIN_CHANNELS_PATH;
}

/**
 * `GET /v1/admin/overview` and `GET /v1/admin/channels` (docs/PROTOCOL.md, "Admin API"): the broker
 * secret, or insecure mode. Both describe this node only; a console shows one node at a time.
 */
export async function handleAdmin(
  ctx: BrokerContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  principal: Principal,
): Promise<void> {
  if (!principal.admin) throw new TributaryError(ErrorCodes.FORBIDDEN, 'the admin API needs the broker secret');
  if (req.method !== 'GET') throw new TributaryError(ErrorCodes.NOT_FOUND, `no route for ${req.method} ${url.pathname}`);
  if (url.pathname === ADMIN_OVERVIEW_PATH) {
    return json(res, 200, {
      node: ctx.options.nodeId,
      engine: ctx.engine.kind,
      insecure: ctx.options.auth.insecure,
      connections: ctx.sessions.size,
      subscriptions: ctx.hub.size,
      published: ctx.metrics.published,
      startedAt: ctx.startedAt,
      uptimeMs: Date.now() - ctx.startedAt,
    });
  }
  json(res, 200, { node: ctx.options.nodeId, windowSeconds: 10, ...channelRows(ctx) });
}

function channelRows(ctx: BrokerContext): { channels: ChannelRow[]; patterns: { pattern: string; subscribers: number }[] } {
  const exact = new Map<string, number>();
  const patterns: { pattern: string; subscribers: number; matches: (channel: string) => boolean }[] = [];
  for (const [key, count] of ctx.hub.subscriberCounts()) {
    if (isPattern(key)) patterns.push({ pattern: key, subscribers: count, matches: compilePattern(key) });
    else exact.set(key, count);
  }
  // Rows × patterns: both are bounded (1000 remembered channels; patterns with live subscribers here).
  const counts = (channel: string): Pick<ChannelRow, 'subscribers' | 'patternSubscribers'> => {
    let viaPatterns = 0;
    for (const p of patterns) if (p.matches(channel)) viaPatterns += p.subscribers;
    return { subscribers: (exact.get(channel) ?? 0) + viaPatterns, patternSubscribers: viaPatterns };
  };
  const rows: ChannelRow[] = [];
  for (const a of ctx.channelStats.list()) {
    rows.push({
      channel: a.channel,
      system: a.channel.startsWith('$'),
      ...counts(a.channel),
      ratePerSec: a.ratePerSec,
      lastOffset: a.lastOffset,
      epoch: a.epoch,
      lastTime: a.lastTime,
    });
    exact.delete(a.channel);
  }
  for (const channel of [...exact.keys()]) {
    rows.push({
      channel,
      system: channel.startsWith('$'),
      ...counts(channel),
      ratePerSec: 0,
      lastOffset: null,
      epoch: null,
      lastTime: null,
    });
  }
  return {
    channels: rows,
    patterns: patterns.map(({ pattern, subscribers }) => ({ pattern, subscribers })).sort((a, b) => a.pattern.localeCompare(b.pattern)),
  };
}
