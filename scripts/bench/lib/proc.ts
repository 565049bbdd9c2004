import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux we run on). */
export const CLK_TCK = 100;

/** CPU time of a process in seconds. */
export interface CpuTime {
  user: number;
  sys: number;
}

/** utime and stime of a process (all its threads), in seconds, from /proc/<pid>/stat. */
export function cpuTime(pid: number): CpuTime {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) may contain spaces: parse after its closing parenthesis.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  return { user: Number(rest[11]) / CLK_TCK, sys: Number(rest[12]) / CLK_TCK };
}

/** utime + stime of a process, in seconds. */
export function cpuSeconds(pid: number): number {
  const t = cpuTime(pid);
  return t.user + t.sys;
}

/** CPU seconds the whole machine spent busy (all cores, anything not idle or iowait), from /proc/stat. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already counted in user)
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return busy / CLK_TCK;
}

/** Resident set size of a process in KiB, from VmRSS in /proc/<pid>/status. */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** Messages a server child sends to the load generator over IPC. */
export type ChildReply =
  | { type: 'ready'; port: number; openFiles: string }
  | { type: 'stats'; deliveries: number; heapUsed: number; rssBytes: number }
  | { type: 'gced' };

/** Messages the load generator sends to a server child. */
export type ChildRequest = { type: 'stats' } | { type: 'gc' };

/** A benchmark server running in its own process. */
export interface ServerChild {
  readonly pid: number;
  readonly port: number;
  /** The open-files limit the child actually runs with (`ulimit -n` inside it). */
  readonly openFiles: string;
  readonly child: ChildProcess;
  stats(): Promise<{ deliveries: number; heapUsed: number; rssBytes: number }>;
  gc(): Promise<void>;
  stop(): Promise<void>;
}

const OPEN_FILES_WANTED = 65_536;

/**
 * Spawns `node --import tsx --expose-gc $BENCH_NODE_ARGS servers/<file>` with `env` (BENCH_NODE_ARGS, e.g.
 * `--cpu-prof`, is for profiling a server by hand), and resolves when it reports its
 * port. The child is started through bash so it can raise its open-files limit first: to 65,536
 * when the hard limit allows, else to the hard limit (a non-root or capability-less shell cannot go
 * past it).
 */
export async function spawnServer(file: string, env: Record<string, string>, timeoutMs = 20_000): Promise<ServerChild> {
  const entry = fileURLToPath(new URL(`../servers/${file}`, import.meta.url));
  const script =
    `ulimit -n ${OPEN_FILES_WANTED} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; ` +
    `exec "${process.execPath}" --import tsx --expose-gc ${process.env.BENCH_NODE_ARGS ?? ''} "${entry}"`;
  const child = spawn('bash', ['-c', script], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // `--import tsx` resolves from the working directory: the repo root, wherever we were started.
    cwd: fileURLToPath(new URL('../../..', import.meta.url)),
    env: { ...process.env, ...env },
  });
  const pending: Array<(m: ChildReply) => boolean> = [];
  child.on('message', (m: ChildReply) => {
    const i = pending.findIndex((p) => p(m));
    if (i >= 0) pending.splice(i, 1);
  });
  const waitFor = <T extends ChildReply['type']>(type: T, ms: number): Promise<Extract<ChildReply, { type: T }>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${file}: no ${type} within ${ms} ms`)), ms);
      const onExit = (code: number | null): void => reject(new Error(`${file} exited (${code}) while waiting for ${type}`));
      child.once('exit', onExit);
      pending.push((m) => {
        if (m.type !== type) return false;
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(m as Extract<ChildReply, { type: T }>);
        return true;
      });
    });
  const ready = await waitFor('ready', timeoutMs);
  if (child.pid === undefined) throw new Error(`${file}: no pid`);
  const pid = child.pid;
  return {
    pid,
    port: ready.port,
    openFiles: ready.openFiles,
    child,
    async stats() {
      const reply = waitFor('stats', 10_000);
      child.send({ type: 'stats' } satisfies ChildRequest);
      const { deliveries, heapUsed, rssBytes } = await reply;
      return { deliveries, heapUsed, rssBytes };
    },
    async gc() {
      const reply = waitFor('gced', 10_000);
      child.send({ type: 'gc' } satisfies ChildRequest);
      await reply;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      });
    },
  };
}

/**
 * The server side of {@link spawnServer}: reports `port` to the parent, answers stats and gc
 * requests, and exits when the parent goes away (so no server outlives a crashed benchmark).
 */
export function serveParent(port: number, deliveries: () => number, shutdown: () => Promise<void>): void {
  const send = (m: ChildReply): void => {
    process.send?.(m);
  };
  process.on('message', (m: ChildRequest) => {
    if (m.type === 'stats') {
      const mem = process.memoryUsage();
      send({ type: 'stats', deliveries: deliveries(), heapUsed: mem.heapUsed, rssBytes: mem.rss });
    } else if (m.type === 'gc') {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      send({ type: 'gced' });
    }
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(0), 3000);
    force.unref();
    void shutdown().finally(() => process.exit(0));
  };
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
  send({ type: 'ready', port, openFiles: openFilesLimit() });
}

/** The soft open-files limit of this process, from /proc/self/limits. */
export function openFilesLimit(pid: number | 'self' = 'self'): string {
  const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  return m === null ? '?' : `${m[1]} (hard ${m[2]})`;
}

/** Sleeps. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
