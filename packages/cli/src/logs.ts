import { brokerUrl, intOption, parse, tokenOf, UsageError } from './args.js';
import { api } from './http.js';
import { follow } from './sub.js';
import { printable } from './printable.js';

export const logsHelp = `tributary logs <block> [--lines N] [--no-follow] [--url URL] [--token T]

Prints a block's recent log lines (default 20) and then follows new ones. Logs live on the system
channel $logs.<block>, so reading them needs the broker secret as --token unless it runs --insecure.`;

interface LogLine {
  level: string;
  message: string;
  version: string;
  time: number;
  fields?: unknown;
}

export async function logs(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    lines: { type: 'string' },
    'no-follow': { type: 'boolean' },
    url: { type: 'string' },
    token: { type: 'string' },
  });
  const [block, ...rest] = positionals;
  if (block === undefined || rest.length > 0) throw new UsageError('logs takes one <block>');
  const channel = `$logs.${block}`;
  const lines = intOption('lines', values.lines, 1) ?? 20;
  const h = await api<{ last: number; messages: Array<{ data: unknown }> }>(
    brokerUrl(values.url),
    `/v1/channels/${encodeURIComponent(channel)}/messages?limit=${lines}`,
    tokenOf(values.token),
  );
  for (const m of h.messages) process.stdout.write(`${formatLogLine(m.data)}\n`);
  if (values['no-follow'] === true) return 0;
  return follow([channel], { since: h.last, count: undefined, url: values.url, token: values.token, format: (m) => formatLogLine(m.data) });
}

/**
 * One log line as text. `$logs.<block>` is a channel like others, so an entry may be anything a
 * publisher with a grant on it wrote: whatever is not a line as the runtime writes it prints as its
 * JSON, and the tail goes on.
 */
function formatLogLine(data: unknown): string {
  const l = data as Partial<LogLine> | null;
  if (
    typeof l !== 'object' ||
    l === null ||
    Array.isArray(l) ||
    typeof l.level !== 'string' ||
    typeof l.message !== 'string' ||
    typeof l.time !== 'number' ||
    !Number.isFinite(new Date(l.time).getTime())
  ) {
    return JSON.stringify(data) ?? String(data);
  }
  const fields = l.fields === undefined ? '' : ` ${JSON.stringify(l.fields)}`;
  return printable(`${new Date(l.time).toISOString()} ${l.level.toUpperCase().padEnd(5)} [${String(l.version)}] ${l.message}${fields}`);
}
