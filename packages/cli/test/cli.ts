import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../bin/tributary.js', import.meta.url));

/** Runs the CLI to completion; resolves with its exit code and output. */
export function run(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tributary ${args.join(' ')} did not exit within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running CLI process (start, sub) whose output can be awaited line by line. */
export interface Running {
  child: ChildProcess;
  /** Lines written to stdout so far. */
  lines: string[];
  /** Lines written to stderr so far. */
  errLines: string[];
  /** Resolves with the first stdout line (or stderr line, with `stream: 'stderr'`) that matches. */
  waitFor(pred: (line: string) => boolean, timeoutMs?: number, stream?: 'stdout' | 'stderr'): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function spawnCli(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const errLines: string[] = [];
  const waiters = new Set<() => void>();
  const splitter = (into: string[]) => {
    let buf = '';
    return (d: Buffer): void => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      into.push(...parts);
      for (const w of [...waiters]) w();
    };
  };
  child.stdout?.on('data', splitter(lines));
  child.stderr?.on('data', splitter(errLines));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    errLines,
    waitFor(pred, timeoutMs = 20_000, stream = 'stdout') {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const l = (stream === 'stdout' ? lines : errLines).find(pred);
          if (l === undefined) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(l);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`no matching ${stream} line within ${timeoutMs} ms; stdout:\n${lines.join('\n')}\nstderr:\n${errLines.join('\n')}`),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Starts `tributary start` on a free port and resolves with its HTTP URL once it listens. */
export async function startCli(args: string[], env: Record<string, string> = {}): Promise<{ url: string; proc: Running }> {
  const proc = spawnCli(['start', '--port', '0', ...args], env);
  const line = await proc.waitFor((l) => l.startsWith('tributary listening on '));
  const url = /listening on (http:\/\/\S+)/.exec(line)?.[1];
  if (url === undefined) throw new Error(`cannot parse ${line}`);
  return { url, proc };
}
