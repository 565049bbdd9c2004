import { ErrorCodes, TributaryClient, type Message, type TributaryError } from '@tributary/client';
import { brokerUrl, brokerWsUrl, intOption, parse, tokenOf, UsageError } from './args.js';

export const subHelp = `tributary sub <channel-or-pattern>... [--since OFFSET] [--count N] [--url URL] [--token T]

Prints one JSON line per message: {channel, offset, epoch, time, data}. Waits for a broker that is
not up yet, and reconnects and resumes by itself; credentials the broker refuses end it (exit 1).
--since replays an exact channel's messages after OFFSET first (in the channel's current epoch).
--count exits after N messages. A line {"recovered":false,…} on stderr means messages were missed
and could not be replayed.`;

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
  const url = brokerWsUrl(brokerUrl(o.url));
  // The first connection is retried like every later one: a subscriber started before its broker
  // (a service starting with its dependencies) waits for it instead of failing.
  const client = new TributaryClient(token === undefined ? { url, waitOnFirstConnect: true } : { url, token, waitOnFirstConnect: true });
  let seen = 0;
  let failed: TributaryError | undefined;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  const fail = (err: TributaryError): void => {
    failed ??= err;
    finish();
  };
  // Retrying cannot fix refused credentials: this token stays what it is.
  client.on('error', (err) => {
    if (err.code === ErrorCodes.UNAUTHORIZED || err.code === ErrorCodes.TOKEN_EXPIRED) fail(err);
  });
  let connected = false;
  let toldWaiting = false;
  client.on('connected', () => (connected = true));
  client.on('state', ({ state }) => {
    if (state !== 'disconnected' || connected || toldWaiting || failed !== undefined) return;
    toldWaiting = true;
    process.stderr.write(`waiting for the broker at ${url} (retrying; Ctrl-C to stop)\n`);
  });
  process.once('SIGINT', finish);
  process.once('SIGTERM', finish);
  const format =
    o.format ?? ((m: Message) => JSON.stringify({ channel: m.channel, offset: m.offset, epoch: m.epoch, time: m.time, data: m.data }));
  try {
    // Until connected, a signal or refused credentials end the wait; connect() then rejects (CLOSED) on close.
    const ready = client.connect().then(() => true);
    ready.catch(() => {});
    if (!(await Promise.race([ready, done.then(() => false)]))) return exitOf(failed);
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
          onError: fail,
        },
      );
    }
    await done;
  } finally {
    process.off('SIGINT', finish);
    process.off('SIGTERM', finish);
    await client.close();
  }
  return exitOf(failed);
}

function exitOf(failed: TributaryError | undefined): number {
  if (failed !== undefined) throw failed;
  return 0;
}
