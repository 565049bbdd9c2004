import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BrokerOptions } from '@tributary/broker';
import type { RedisEngineOptions } from '@tributary/engine/redis';
import type { RetryOptions } from '@tributary/runtime';

/** The real `tributary` command (bin of @tributary/cli). */
export const CLI_BIN = fileURLToPath(new URL('../../cli/bin/tributary.js', import.meta.url));
const NODE_MAIN = fileURLToPath(new URL('./node-main.ts', import.meta.url));

/** Options of a {@link spawnNode} process (JSON in TRIBUTARY_RELIABILITY_NODE). */
export interface NodeProcessOptions {
  /** Redis URL; the embedded MemoryEngine without it. */
  redis?: string;
  keyPrefix?: string;
  engine?: Pick<RedisEngineOptions, 'commandTimeoutMs' | 'maxReconnectDelayMs'>;
  /** Token secret; insecure (loopback, no auth) without it. */
  secret?: string;
  blockDirs?: string[];
  consumer?: string;
  claimIdleMs?: number;
  retry?: Partial<RetryOptions>;
  pollMs?: number;
  broker?: Pick<BrokerOptions, 'maxQueueBytes' | 'maxConnectionsPerIp' | 'maxConnections' | 'maxPayloadBytes' | 'nodeId'>;
}

/** A broker process under test. */
export interface NodeProc {
  /** http://127.0.0.1:<port> */
  url: string;
  /** ws://127.0.0.1:<port>/v1/ws */
  wsUrl: string;
  child: ChildProcess;
  /** Everything it wrote to stderr (the last 20 kB), for failure messages. */
  stderr(): string;
  /** True while the process runs. */
  alive(): boolean;
  /** kill -9, and wait for the exit. */
  kill(): Promise<void>;
  /** Resident set size in bytes, from /proc (Linux). */
  rss(): number;
}

const running = new Set<ChildProcess>();

/** SIGKILLs every process started here that still runs; call it in afterAll/afterEach. */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((c) => killChild(c)));
}

async function killChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    c.once('exit', () => resolve());
    c.kill('SIGKILL');
  });
}

/** Starts the real `tributary start` (port 0, no block folders unless given) and waits until it listens. */
export function spawnCli(args: string[], env: Record<string, string> = {}): Promise<NodeProc> {
  return launch(
    process.execPath,
    [CLI_BIN, 'start', '--port', '0', '--log-level', 'warn', ...args],
    env,
    /tributary listening on (http:\/\/\S+)/,
  );
}

/** Starts a {@link NodeProcessOptions} process (src/node-main.ts) and waits until it listens. */
export function spawnNode(options: NodeProcessOptions): Promise<NodeProc> {
  return launch(
    process.execPath,
    ['--import', 'tsx', NODE_MAIN],
    { TRIBUTARY_RELIABILITY_NODE: JSON.stringify(options) },
    /^listening (http:\/\/\S+)/m,
  );
}

async function launch(cmd: string, args: string[], env: Record<string, string>, ready: RegExp, timeoutMs = 30_000): Promise<NodeProc> {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(`did not listen within ${timeoutMs} ms`), timeoutMs);
    const fail = (why: string): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')}: ${why}\nstdout:\n${out}\nstderr:\n${err}`));
    };
    child.stdout?.on('data', (d: Buffer) => {
      out = (out + d.toString()).slice(-20_000);
      const m = ready.exec(out);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code, signal) => fail(`exited (${code ?? signal})`));
  });
  const pid = child.pid as number;
  return {
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}/v1/ws`,
    child,
    stderr: () => err,
    alive: () => child.exitCode === null && child.signalCode === null,
    kill: () => killChild(child),
    rss: () => {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return Number(m?.[1] ?? 0) * 1024;
    },
  };
}
