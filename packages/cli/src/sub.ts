import { TributaryClient, type Message, type TributaryError } from '@tributary/client';
import { brokerUrl, intOption, parse, tokenOf, UsageError } from './args.js';

export const subHelp = `tributary sub <channel-or-pattern>... [--since OFFSET] [--count N] [--url URL] [--token T]

Prints one JSON line per message: {channel, offset, epoch, time, data}. Reconnects and resumes by
itself. --since replays an exact channel's messages after OFFSET first (in the channel's current
epoch). --count exits after N messages. A line {"recovered":false,…} on stderr means messages were
missed and could not be replayed.`;

export async function sub(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    since: { type: 'string' },
    count: { type: 'string' },
    url: { type: 'string' },
    token: { type: 'string' },
  });
  if (positionals.length === 0) throw new UsageError('sub takes at least one <channel-or-pattern>');
  const since = intOption('since', values.since);
  const count = intOption('count', values.count, 1);
  return follow(positionals, { since, count, url: values.url, token: values.token });
}

/** Subscribes to `channels` and prints messages until `count` or SIGINT. Shared with `logs`. */
export async function follow(
  channels: string[],
  o: {
    since: number | undefined;
    count: number | undefined;
    url: string | undefined;
    token: string | undefined;
    format?: (m: Message) => string;
  },
): Promise<number> {
  const token = tokenOf(o.token);
  const client = new TributaryClient(token === undefined ? { url: brokerUrl(o.url) } : { url: brokerUrl(o.url), token });
  let seen = 0;
  let failed: TributaryError | undefined;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  const format =
    o.format ?? ((m: Message) => JSON.stringify({ channel: m.channel, offset: m.offset, epoch: m.epoch, time: m.time, data: m.data }));
  try {
    await client.connect();
    for (const channel of channels) {
      let since: { offset: number; epoch: string } | undefined;
      if (o.since !== undefined) {
        // --since is an offset in the channel's current epoch; ask for the epoch first.
        const h = await client.history(channel, { limit: 1 });
        since = { offset: o.since, epoch: h.epoch };
      }
      await client.subscribe(
        channel,
        (m: Message) => {
          if (o.count !== undefined && seen >= o.count) return;
          process.stdout.write(`${format(m)}\n`);
          if (o.count !== undefined && ++seen >= o.count) finish();
        },
        {
          ...(since === undefined ? {} : { since }),
          onRecovery: (info) => {
            if (!info.recovered) process.stderr.write(`${JSON.stringify({ ...info, channel })}\n`);
          },
          onError: (err) => {
            failed = err;
            finish();
          },
        },
      );
    }
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
    await done;
  } finally {
    await client.close();
  }
  if (failed !== undefined) throw failed;
  return 0;
}
