import { brokerUrl, parse, tokenOf, UsageError } from './args.js';
import { api } from './http.js';

export const pubHelp = `tributary pub <channel> <json> [--msg-id ID] [--url URL] [--token T]

Publishes one message and prints its offset. <json> must be JSON: quote strings, e.g. '"hello"'.`;

export async function pub(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { 'msg-id': { type: 'string' }, url: { type: 'string' }, token: { type: 'string' } });
  const [channel, json, ...rest] = positionals;
  if (channel === undefined || json === undefined || rest.length > 0) throw new UsageError('pub takes <channel> <json>');
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    throw new UsageError(`<json> is not valid JSON: ${json} (quote strings: '"${json}"')`);
  }
  const body = values['msg-id'] === undefined ? { data } : { data, msgId: values['msg-id'] };
  const ack = await api<{ offset: number }>(
    brokerUrl(values.url),
    `/v1/channels/${encodeURIComponent(channel)}/messages`,
    tokenOf(values.token),
    { method: 'POST', body: JSON.stringify(body) },
  );
  process.stdout.write(`${ack.offset}\n`);
  return 0;
}
