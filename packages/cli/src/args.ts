import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A usage mistake: printed with the command's help, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** parseArgs that turns its errors into UsageError. */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, allowPositionals = true) {
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

/** The broker a client command talks to: --url, then TRIBUTARY_URL, then the local default. */
export function brokerUrl(flag: string | undefined): string {
  return (flag ?? process.env.TRIBUTARY_URL ?? 'http://127.0.0.1:7700').replace(/\/+$/, '');
}

/** Credentials for client commands: --token, then TRIBUTARY_TOKEN. */
export function tokenOf(flag: string | undefined): string | undefined {
  return flag ?? process.env.TRIBUTARY_TOKEN;
}
