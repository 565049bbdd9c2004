/**
 * Redis's own accounting, read from `INFO commandstats`: how many commands of each kind a system
 * sent in a measured window. Commands a Lua script runs are counted under their own names too
 * (Redis ≥ 7), so a script call shows up as `evalsha` plus the writes it made.
 */

/** Calls per command name (lower case, as INFO prints it: `xadd`, `evalsha`, `publish`). */
export type CommandCounts = Record<string, number>;

/** Parses the `cmdstat_<name>:calls=N,…` lines of `INFO commandstats`; other lines are ignored. */
export function parseCommandStats(info: string): CommandCounts {
  const out: CommandCounts = {};
  for (const line of info.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m !== null) out[m[1] as string] = Number(m[2]);
  }
  return out;
}

/**
 * Calls made between two readings, per command, leaving out `info` (the reading itself) and
 * commands with no calls in between. A command missing from `before` had 0 calls then.
 */
export function commandDelta(before: CommandCounts, after: CommandCounts): CommandCounts {
  const out: CommandCounts = {};
  for (const [name, calls] of Object.entries(after)) {
    if (name === 'info') continue;
    const d = calls - (before[name] ?? 0);
    if (d > 0) out[name] = d;
  }
  return out;
}

/** Adds `b` into `a` (sums of several measured windows). */
export function addCommands(a: CommandCounts, b: CommandCounts): CommandCounts {
  const out: CommandCounts = { ...a };
  for (const [name, calls] of Object.entries(b)) out[name] = (out[name] ?? 0) + calls;
  return out;
}

/** Total calls, and the `top` commands by calls, each divided by `per` (e.g. per stored message). */
export function commandsPer(counts: CommandCounts, per: number, top = 4): { total: number; top: Array<[string, number]> } {
  const entries = Object.entries(counts).sort((x, y) => y[1] - x[1]);
  const total = entries.reduce((s, [, n]) => s + n, 0);
  return { total: total / per, top: entries.slice(0, top).map(([k, n]) => [k, n / per]) };
}
