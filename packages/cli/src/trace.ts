import type { TraceReply } from '@tributary/broker';
import { brokerUrl, intOption, parse, tokenOf, UsageError } from './args.js';
import { api } from './http.js';

export const traceHelp = `tributary trace <channel> <offset> [--json] [--url URL] [--token T]

Walks a message's lineage back to the original message and prints one line per step, newest
first: channel#offset, the block and version that published it, the time from its parent being
stored to it being stored, when it was stored, and its data. A token sees the steps its grants let
it read (subscribe or history on each channel); the walk says where it stopped. --json prints the
broker's reply (GET /v1/trace/<channel>/<offset>) as it is.`;

export async function trace(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' }, url: { type: 'string' }, token: { type: 'string' } });
  const [channel, offsetText, ...rest] = positionals;
  if (channel === undefined || offsetText === undefined || rest.length > 0) throw new UsageError('trace takes <channel> <offset>');
  const offset = intOption('offset', offsetText, 1) as number;
  const r = await api<TraceReply>(brokerUrl(values.url), `/v1/trace/${encodeURIComponent(channel)}/${offset}`, tokenOf(values.token));
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return 0;
  }
  for (const s of r.steps) {
    const by = s.block === undefined ? 'original' : `by ${s.block}@${s.version ?? '?'}`;
    const spent = s.spentMs === undefined ? '' : ` +${s.spentMs} ms`;
    process.stdout.write(`${s.channel}#${s.offset}  ${by}${spent}  ${new Date(s.time).toISOString()}  ${JSON.stringify(s.data)}\n`);
  }
  if (r.truncated === true) process.stdout.write('… the parent is on a channel this token may not read\n');
  if (r.missing !== undefined) process.stdout.write(`… the parent ${r.missing.channel}#${r.missing.offset} is no longer retained\n`);
  return 0;
}
