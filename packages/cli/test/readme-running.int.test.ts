import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { eventually, freePort, startRedis, type RedisServer } from '@tributary/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// README "Running for real" is what an operator types: its commands are run here as written, from
// the repository root, with only the Redis URL and the port filled in, and `pnpm` as the README's
// own alternative `npx -y pnpm@10.34.8` (no global pnpm needed). An `export` line is evaluated once,
// so later lines see one secret, as in a shell session.

const execFileP = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PNPM = 'npx -y pnpm@10.34.8';

let redis: RedisServer;
let start: ChildProcess | undefined;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  // The start line runs as a process group (sh → npx → pnpm → tributary): stop all of it.
  if (start?.pid !== undefined && start.exitCode === null) {
    const exited = new Promise((resolve) => start?.once('exit', resolve));
    process.kill(-start.pid, 'SIGTERM');
    await exited;
  }
  await redis?.stop();
});

/** The shell lines of the README section's code blocks, without trailing comments. */
async function sectionCommands(): Promise<{ prose: string; lines: string[] }> {
  const readme = await readFile(new URL('README.md', `file://${ROOT}`), 'utf8');
  const at = readme.indexOf('## Running for real\n');
  expect(at, 'README has a "Running for real" section').toBeGreaterThanOrEqual(0);
  const section = readme.slice(at, readme.indexOf('\n## ', at + 1));
  const lines = [...section.matchAll(/```sh\n([\s\S]*?)```/g)]
    .flatMap((m) => (m[1] as string).split('\n'))
    .map((l) => l.replace(/\s+#\s.*$/, '').trim())
    .filter((l) => l !== '');
  return { prose: section.replace(/```sh\n[\s\S]*?```/g, ''), lines };
}

describe('README "Running for real"', () => {
  it('runs as written: a Redis node, a deploy and a device, with credentials from the environment only', async () => {
    const { prose, lines } = await sectionCommands();
    expect(prose).toContain('corepack enable');
    expect(prose).toContain('npx -y pnpm@10.34.8');
    // No secret or token on a command line: they come from TRIBUTARY_SECRET / TRIBUTARY_TOKEN.
    for (const l of lines) expect(l, l).not.toMatch(/--token|--secret/);

    const port = await freePort();
    const env: Record<string, string> = {};
    const local = (l: string): string =>
      l
        .replaceAll('redis://127.0.0.1:6379', redis.url)
        .replaceAll('127.0.0.1:7700', `127.0.0.1:${port}`)
        .replaceAll('--port 7700', `--port ${port}`)
        .replace(/(^|[\s(])pnpm /g, `$1${PNPM} `);
    const sh = (l: string) => execFileP('sh', ['-c', local(l)], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 });

    const outputs: Array<{ line: string; stdout: string }> = [];
    for (const line of lines) {
      const exported = /^export ([A-Z_]+)=/.exec(line);
      if (exported !== null) {
        const name = exported[1] as string;
        const { stdout } = await sh(`${line} && printf %s "$${name}"`);
        expect(stdout, line).not.toBe('');
        env[name] = stdout;
      } else if (line.includes('tributary start')) {
        start = spawn('sh', ['-c', local(line)], {
          cwd: ROOT,
          env: { ...process.env, ...env },
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        start.stdout?.on('data', (d: Buffer) => (out += d.toString()));
        start.stderr?.on('data', (d: Buffer) => (out += d.toString()));
        await eventually(() => out.includes('tributary listening on') || start?.exitCode !== null, {
          timeoutMs: 90_000,
          message: () => `the node to listen:\n${out}`,
        });
        expect(out).toContain('engine redis; token auth');
      } else if (line.includes(' history ')) {
        // Blocks turn the reading into an alert after the publish returns: read until it is there.
        const got = await eventually(
          async () => {
            const { stdout } = await sh(line);
            return stdout.trim() === '' ? undefined : stdout;
          },
          { timeoutMs: 60_000, intervalMs: 500, message: line },
        );
        outputs.push({ line, stdout: got });
      } else {
        outputs.push({ line, stdout: (await sh(line)).stdout });
      }
    }

    // The device token was captured clean (pnpm -s): a JWT-like string, not a banner.
    expect(env.DEVICE_TOKEN).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const out = (what: string) => outputs.find((o) => o.line.includes(what))?.stdout ?? '';
    expect(out('tributary deploy')).toMatch(/deployed temperature-alert@[0-9a-f]{12}/);
    expect(out('tributary pub')).toMatch(/^\d+\n$/);
    // JSON lines only: every line parses, and the alert the blocks made from the reading is there.
    const history = out('tributary history')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { channel: string; data: { device?: string; celsius?: number } });
    expect(history).toContainEqual(
      expect.objectContaining({ channel: 'alerts.temperature', data: expect.objectContaining({ device: 'd1', celsius: 45 }) }),
    );
  }, 240_000);
});
