import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { freePort } from './ports.js';

/** A redis-server started for a test. */
export interface RedisServer {
  /** redis://127.0.0.1:<port> */
  url: string;
  port: number;
  /** The process, for fault tests (kill -9). Undefined when REDIS_URL pointed at an existing server. */
  process: ChildProcess | undefined;
  /** Stops the server and deletes its directory. Idempotent. */
  stop(): Promise<void>;
  /** Restarts the server on the same port and directory (AOF data survives when enabled). */
  restart(): Promise<void>;
}

/** Options of {@link startRedis}. */
export interface StartRedisOptions {
  /** Extra redis-server arguments, e.g. ['--appendonly', 'yes']. */
  args?: string[];
  /**
   * Use REDIS_URL from the environment instead of spawning, when set.
   * @defaultValue true
   */
  honourEnv?: boolean;
}

const INSTALL_HINT =
  'redis-server was not found on PATH. Tributary tests run against a real Redis 7 server.\n' +
  '  Debian/Ubuntu: sudo apt-get install -y redis-server\n' +
  '  macOS:         brew install redis\n' +
  'or point the tests at a running server with REDIS_URL=redis://host:port (keys are prefixed per test).';

/** Throws an error that says what to install when redis-server is missing. */
export function assertRedisServerInstalled(): void {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) throw new Error(INSTALL_HINT);
}

/**
 * Spawns `redis-server` on a free loopback port in a temp dir, with persistence off unless `args`
 * turn it on, and waits until it answers PING.
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const envUrl = process.env.REDIS_URL;
  if ((options.honourEnv ?? true) && envUrl) {
    const port = Number(new URL(envUrl).port || 6379);
    return {
      url: envUrl,
      port,
      process: undefined,
      stop: async () => {},
      restart: async () => {
        throw new Error('cannot restart a Redis given by REDIS_URL');
      },
    };
  }
  assertRedisServerInstalled();
  const dir = await mkdtemp(join(tmpdir(), 'tributary-redis-'));
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--protected-mode',
    'no',
    ...(options.args ?? []),
  ];
  let child = await spawnRedis(args, port);
  let stopped = false;
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    get process() {
      return child;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await killAndWait(child);
      await rm(dir, { recursive: true, force: true });
    },
    async restart() {
      await killAndWait(child, 'SIGTERM');
      child = await spawnRedis(args, port);
    },
  };
  return server;
}

/** Starts redis-server with `args` and resolves once `port` answers PING. */
export async function spawnRedis(args: string[], port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}):\n${output}`);
    if (await pings(port)) return child;
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not answer on port ${port} within 10 s:\n${output}`);
}

async function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

/** Kills a child (SIGKILL by default) and waits for it to exit. */
export async function killAndWait(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}
