import { brokerUrl, intOption, parse, tokenOf, UsageError } from './args.js';
import { api } from './http.js';

export const historyHelp = `tributary history <channel> [--since OFFSET] [--limit N] [--url URL] [--token T]

Prints stored messages, one JSON line each ({channel, offset, time, data}). Without --since, the
latest N (default 100); with it, those after OFFSET.`;

interface HistoryReply {
  channel: string;
  messages: Array<{ offset: number; time: number; data: unknown; msgId?: string }>;
}

export async function history(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    since: { type: 'string' },
    limit: { type: 'string' },
    url: { type: 'string' },
    token: { type: 'string' },
  });
  const [channel, ...rest] = positionals;
  if (channel === undefined || rest.length > 0) throw new UsageError('history takes one <channel>');
  const q = new URLSearchParams();
  const since = intOption('since', values.since);
  const limit = intOption('limit', values.limit, 1);
  if (since !== undefined) q.set('since', String(since));
  if (limit !== undefined) q.set('limit', String(limit));
  const r = await api<HistoryReply>(
    brokerUrl(values.url),
    `/v1/channels/${encodeURIComponent(channel)}/messages?${q}`,
    tokenOf(values.token),
  );
  for (const m of r.messages) process.stdout.write(`${JSON.stringify({ channel: r.channel, ...m })}\n`);
  return 0;
}
