import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A usage mistake: printed with the command's help, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** parseArgs that turns its errors into UsageError. */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  allowPositionals = true,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: boolean; strict: true }>> {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Parses `30s`, `15m`, `1h`, `7d` or plain seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (m === null) throw new UsageError(`invalid duration ${JSON.stringify(text)}: use e.g. 30s, 15m, 1h, 7d`);
  const n = Number(m[1]);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return n * unit;
}

/** Parses an integer option, naming it in the error. */
export function intOption(name: string, value: string | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}`);
  return n;
}

/** The broker client commands talk to when neither --url nor TRIBUTARY_URL names one. */
export const DEFAULT_BROKER_URL = 'http://127.0.0.1:7700';

/** The broker's WebSocket path: a URL given with it names the broker's base URL plus this path. */
const WS_PATH = '/v1/ws';

const HTTP_SCHEME: Readonly<Record<string, string>> = { 'http:': 'http:', 'https:': 'https:', 'ws:': 'http:', 'wss:': 'https:' };

/**
 * The broker a client command talks to, as its HTTP(S) base URL without a trailing slash: --url,
 * then TRIBUTARY_URL, then {@link DEFAULT_BROKER_URL}. Every command takes the broker's address in
 * the form a client library is given it too — `ws://` / `wss://`, with or without `/v1/ws` — and
 * turns it into the same base, so `pub --url ws://…` and `sub --url http://…` both work. A URL that
 * names no broker is a UsageError naming where it came from.
 */
export function brokerUrl(flag: string | undefined): string {
  const env = process.env.TRIBUTARY_URL;
  const [raw, source] =
    flag !== undefined
      ? [flag, '--url']
      : env !== undefined && env !== ''
        ? [env, 'TRIBUTARY_URL']
        : [DEFAULT_BROKER_URL, 'the default URL'];
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`${source} is not a URL: ${JSON.stringify(raw)} (e.g. http://127.0.0.1:7700 or ws://127.0.0.1:7700)`);
  }
  const scheme = HTTP_SCHEME[u.protocol];
  if (scheme === undefined) throw new UsageError(`${source} must start with http://, https://, ws:// or wss://, got ${u.protocol}//`);
  if (u.search !== '' || u.hash !== '') {
    throw new UsageError(`${source} must be the broker's address alone: pass credentials as --token or TRIBUTARY_TOKEN, not in the URL`);
  }
  // Between special schemes the WHATWG URL lets the protocol change in place (ws → http keeps host, port, path).
  u.protocol = scheme;
  let path = u.pathname.replace(/\/+$/, '');
  if (path.endsWith(WS_PATH)) path = path.slice(0, -WS_PATH.length);
  return `${u.origin}${path}`;
}

/** The WebSocket endpoint of a broker whose base URL {@link brokerUrl} returned. */
export function brokerWsUrl(base: string): string {
  return `${base.replace(/^http/, 'ws')}${WS_PATH}`;
}

/** Credentials for client commands: --token, then TRIBUTARY_TOKEN. */
export function tokenOf(flag: string | undefined): string | undefined {
  return flag ?? process.env.TRIBUTARY_TOKEN;
}
