import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertRedisServerInstalled, freePort, killAndWait, spawnRedis } from '@tributary/testkit';

/** A redis-server this suite owns outright, so it can be killed with SIGKILL and brought back on the same port and data. */
export interface OwnedRedis {
  url: string;
  port: number;
  /** kill -9 (no shutdown save), and wait for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory; resolves once it answers PING (AOF loaded). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts redis-server with AOF on and `appendfsync` as given (default `always`: an ack is on disk). */
export async function ownedRedis(fsync: 'always' | 'everysec' = 'always'): Promise<OwnedRedis> {
  assertRedisServerInstalled();
  const dir = await mkdtemp(join(tmpdir(), 'tributary-rel-redis-'));
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--dir',
    dir,
    '--protected-mode',
    'no',
    '--appendonly',
    'yes',
    '--appendfsync',
    fsync,
  ];
  let child: ChildProcess | undefined = await spawnRedis(args, port);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async kill() {
      if (child !== undefined) await killAndWait(child, 'SIGKILL');
      child = undefined;
    },
    async start() {
      child ??= await spawnRedis(args, port);
    },
    async stop() {
      if (child !== undefined) await killAndWait(child, 'SIGKILL');
      child = undefined;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
