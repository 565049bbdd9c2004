import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, freePort } from '@tributary/testkit';

/** A Mosquitto process of this test on a loopback port; `restart()` keeps the port. */
export interface Mosquitto {
  port: number;
  url: string;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

function binary(): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/local/sbin'])) {
    const p = join(dir, 'mosquitto');
    if (dir !== '' && existsSync(p)) return p;
  }
  throw new Error('mosquitto is not installed: apt-get install mosquitto (the MQTT bridge tests run a real broker)');
}

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/**
 * Starts `mosquitto` on a free 127.0.0.1 port, without persistence, so a restart loses every session
 * (the harshest case for a client: it must subscribe again).
 */
export async function startMosquitto(): Promise<Mosquitto> {
  const bin = binary();
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  let child: ChildProcess | undefined;
  let stderr = '';

  const up = async (): Promise<void> => {
    stderr = '';
    const c = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child = c;
    // A mosquitto that exited (bad config, port taken) will never listen: fail at once, not in 10 s.
    await eventually(() => accepting(port), {
      message: `mosquitto accepting on ${port}`,
      timeoutMs: 10_000,
      failFast: () => c.exitCode !== null && `mosquitto exited with code ${c.exitCode}`,
    }).catch((err: unknown) => {
      c.kill('SIGKILL');
      throw new Error(`mosquitto did not start on ${port}: ${stderr}`, { cause: err });
    });
  };
  const down = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };

  await up();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    async stop() {
      await down();
      await rm(dir, { recursive: true, force: true });
    },
    async restart() {
      await down();
      await up();
    },
  };
}
