/**
 * Channel names and patterns.
 *
 * A channel name is one or more dot-separated segments; a segment is 1+ characters of
 * `A-Z a-z 0-9 _ - : @ =`. Names are at most {@link MAX_CHANNEL_LENGTH} characters. Names whose
 * first segment starts with `$` are system channels (dead letters, object events): clients need an
 * explicit grant for them.
 *
 * A pattern is a name in which whole segments may be wildcards, as in NATS subjects:
 * - `*` matches exactly one segment: `sensors.*` matches `sensors.t1` but not `sensors.t1.temp`;
 * - `>` matches one or more trailing segments and may only be last: `sensors.>` matches
 *   `sensors.t1` and `sensors.t1.temp` but not `sensors`.
 *
 * Braces are not allowed anywhere: the Redis engine wraps names in `{…}` as a Cluster hash tag.
 */
export const MAX_CHANNEL_LENGTH = 200;

const SEGMENT = /^\$?[A-Za-z0-9_\-:@=]+$/;
const WILDCARD = /(^|\.)[*>](\.|$)/;

/** Why a name or pattern is invalid, or `undefined` when it is valid. */
export function channelProblem(name: unknown, allowPattern: boolean): string | undefined {
  if (typeof name !== 'string') return 'must be a string';
  if (name.length === 0) return 'must not be empty';
  if (name.length > MAX_CHANNEL_LENGTH) return `must be at most ${MAX_CHANNEL_LENGTH} characters`;
  const segments = name.split('.');
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i] as string;
    if (seg === '*' || seg === '>') {
      if (!allowPattern) return 'wildcards (* and >) are only allowed in patterns';
      if (seg === '>' && i !== segments.length - 1) return "'>' may only be the last segment";
      continue;
    }
    if (seg.length === 0) return 'must not have empty segments';
    if (!SEGMENT.test(seg)) return `segment '${seg}' has characters outside A-Z a-z 0-9 _ - : @ =`;
    if (seg.startsWith('$') && i !== 0) return "'$' may only start the first segment";
  }
  return undefined;
}

/** True when `name` is a valid concrete channel name (no wildcards). */
export function isValidChannel(name: unknown): name is string {
  return channelProblem(name, false) === undefined;
}

/** True when `name` is a valid channel name or pattern. */
export function isValidChannelOrPattern(name: unknown): name is string {
  return channelProblem(name, true) === undefined;
}

/** True when `name` contains a wildcard segment. Assumes it is valid. */
export function isPattern(name: string): boolean {
  return WILDCARD.test(name);
}

/** True for system channels (first segment starts with `$`). */
export function isSystemChannel(name: string): boolean {
  return name.startsWith('$');
}

/**
 * Compiles a pattern (or a plain name) into a matcher for concrete channel names.
 * Matching is segment by segment, so it costs no regular expression per message. A wildcard never
 * matches a `$` system channel unless the pattern's first segment itself starts with `$` (as NATS
 * keeps `$SYS` out of `>`): `>` does not see `$dlq.alert`, `$dlq.*` does.
 */
export function compilePattern(pattern: string): (channel: string) => boolean {
  if (!isPattern(pattern)) return (channel) => channel === pattern;
  const want = pattern.split('.');
  const tail = want[want.length - 1] === '>';
  const fixed = tail ? want.length - 1 : want.length;
  const system = pattern.startsWith('$');
  return (channel) => {
    if (!system && channel.startsWith('$')) return false;
    const got = channel.split('.');
    if (tail ? got.length <= fixed : got.length !== fixed) return false;
    for (let i = 0; i < fixed; i++) {
      const w = want[i];
      if (w !== '*' && w !== got[i]) return false;
    }
    return true;
  };
}

/** True when `channel` matches `pattern` (see {@link compilePattern}). */
export function matchesPattern(pattern: string, channel: string): boolean {
  return compilePattern(pattern)(channel);
}

/**
 * True when every channel matched by `requested` (a name or pattern) is also matched by `grant`.
 * Used to check a subscription to a pattern against a token's grants: a grant on `sensors.>`
 * covers a subscription to `sensors.*`, but a grant on `sensors.*` does not cover `sensors.>`.
 */
export function patternCovers(grant: string, requested: string): boolean {
  const g = grant.split('.');
  const r = requested.split('.');
  for (let i = 0; i < g.length; i++) {
    const gs = g[i] as string;
    if (gs === '>') return r.length > i;
    const rs = r[i];
    if (rs === undefined) return false;
    if (gs === '*') {
      if (rs === '>') return false;
      continue;
    }
    if (gs !== rs) return false;
  }
  return r.length === g.length;
}
