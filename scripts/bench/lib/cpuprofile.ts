/**
 * Where a profiled server spent its CPU: V8 `.cpuprofile` files (node --cpu-prof) reduced to self
 * time per function and per package, over the samples taken from a given moment on (the start of
 * the measured load, so module loading and connection setup do not count).
 */

/** The parts of a `.cpuprofile` this reads. */
export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  /** µs between samples; the first is from `startTime`. */
  timeDeltas: number[];
  /** µs on the monotonic clock (the one `process.hrtime` reads). */
  startTime: number;
}

export interface Share {
  name: string;
  /** Of the busy time (idle excluded), 0–1. */
  share: number;
}

export interface ProfileSummary {
  /** CPU time sampled after `fromUs`, idle excluded, ms. */
  busyMs: number;
  /** The functions with the most self time. */
  frames: Share[];
  /** Self time by where the code lives: a workspace package, a dependency, Node, GC, system calls. */
  groups: Share[];
}

/** Native frames that are system calls writing to sockets. */
const WRITES = new Set(['writeBuffer', 'writeUtf8String', 'writeLatin1String', 'writev', 'writeAsciiString']);

/** Where the code of a frame lives, for the per-package view. */
export function groupOf(functionName: string, url: string): string {
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (url === '' && WRITES.has(functionName)) return 'socket writes (system calls)';
  if (url === '') return 'V8 and native code';
  const pkg = /\/packages\/([^/]+)\//.exec(url);
  if (pkg !== null) return `@tributary/${pkg[1]}`;
  const dep = /\/node_modules\/\.pnpm\/(@[^+/]+\+[^@/]+|[^@/]+)@/.exec(url) ?? /\/node_modules\/(@[^/]+\/[^/]+|[^/]+)\//.exec(url);
  if (dep !== null) return (dep[1] as string).replace('+', '/');
  if (url.startsWith('node:')) return 'Node.js internals';
  return 'other';
}

/**
 * A frame's label: its function and file, relative to the repository or the package, with the line
 * for JavaScript. TypeScript run through tsx has no line of its own here: a profile gives positions
 * in the transformed code, without the source map.
 */
export function frameOf(functionName: string, url: string, lineNumber: number): string {
  const name = functionName === '' ? '(anonymous)' : functionName;
  if (url === '') return name;
  const file = url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\/\.pnpm\/[^/]+\/node_modules\//, '')
    .replace(/^.*\/(packages\/)/, '$1');
  return file.endsWith('.ts') ? `${name} (${file})` : `${name} (${file}:${lineNumber + 1})`;
}

/** Self time per function and per group over every profile's samples at or after `fromUs`. */
export function summarize(profiles: readonly CpuProfile[], fromUs = 0, top = 10): ProfileSummary {
  const frames = new Map<string, number>();
  const groups = new Map<string, number>();
  let busy = 0;
  for (const p of profiles) {
    const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
    let t = p.startTime;
    for (let i = 0; i < p.samples.length; i++) {
      const dt = p.timeDeltas[i] ?? 0;
      t += dt;
      const cf = byId.get(p.samples[i] as number);
      if (cf === undefined || t < fromUs || cf.functionName === '(idle)') continue;
      busy += dt;
      const frame = frameOf(cf.functionName, cf.url, cf.lineNumber);
      frames.set(frame, (frames.get(frame) ?? 0) + dt);
      const group = groupOf(cf.functionName, cf.url);
      groups.set(group, (groups.get(group) ?? 0) + dt);
    }
  }
  const ranked = (m: Map<string, number>, n: number): Share[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, share: busy > 0 ? us / busy : 0 }));
  return { busyMs: busy / 1000, frames: ranked(frames, top), groups: ranked(groups, top) };
}
