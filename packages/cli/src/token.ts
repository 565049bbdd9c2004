import { Actions, createToken, type Action } from '@tributary/broker';
import { parse, parseDuration, UsageError } from './args.js';

export const tokenHelp = `tributary token --grant PATTERN:ACTIONS [--grant …] [--ttl 1h] [--sub ID] [--secret S]

Prints a signed token. ACTIONS is a comma list of sub, pub, history, presence, request (or their
full names); 'request' on '$blocks.<name>' lets the token call that request block.
The secret comes from --secret or TRIBUTARY_SECRET and must match the broker's.

  tributary token --grant 'sensors.*:pub' --grant 'alerts:sub,history' --ttl 7d --sub device-42`;

const SHORT: Record<string, Action> = { sub: 'subscribe', pub: 'publish', history: 'history', presence: 'presence', request: 'request' };

export async function token(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    {
      grant: { type: 'string', multiple: true },
      ttl: { type: 'string' },
      sub: { type: 'string' },
      secret: { type: 'string' },
    },
    false,
  );
  const secret = values.secret ?? process.env.TRIBUTARY_SECRET;
  if (!secret) throw new UsageError('token needs --secret or TRIBUTARY_SECRET');
  if (!values.grant?.length) throw new UsageError('token needs at least one --grant PATTERN:ACTIONS');
  const grants: Record<string, Action[]> = {};
  for (const g of values.grant) {
    const i = g.lastIndexOf(':');
    if (i <= 0) throw new UsageError(`grant ${JSON.stringify(g)} must be PATTERN:ACTIONS`);
    const actions = g
      .slice(i + 1)
      .split(',')
      .map((a) => SHORT[a.trim()] ?? (a.trim() as Action));
    for (const a of actions) if (!(Actions as readonly string[]).includes(a)) throw new UsageError(`unknown action ${a}`);
    grants[g.slice(0, i)] = [...new Set([...(grants[g.slice(0, i)] ?? []), ...actions])];
  }
  const opts: Parameters<typeof createToken>[0] = { secret, grants, ttlSeconds: parseDuration(values.ttl ?? '1h') };
  if (values.sub !== undefined) opts.sub = values.sub;
  try {
    process.stdout.write(`${await createToken(opts)}\n`);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return 0;
}
