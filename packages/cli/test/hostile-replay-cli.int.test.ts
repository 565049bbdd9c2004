import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { run, startCli, type Running } from './cli.js';

// What a device publishes can reach the operator's terminal: a block that names the reading in its
// error or its log line carries the device's text into `tributary replay`'s "!" line and into
// `tributary logs`. Terminal control sequences in it (ESC, BEL, a carriage return) must be printed
// escaped, never acted on: no retitled window, no cleared screen, no line overwritten to hide a failure.

const SECRET = 'cli-hostile-secret-that-is-at-least-32-bytes';
const procs: Running[] = [];
const dirs: string[] = [];
afterEach(async () => {
  while (procs.length > 0) await procs.pop()?.stop('SIGKILL');
  while (dirs.length > 0) await rm(dirs.pop() as string, { recursive: true, force: true });
});

/** A terminal acts on these: C0 but tab and newline, DEL, C1. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

const BLOCK = `import { defineBlock } from '@tributary/block';
export default defineBlock({
  name: 'namer',
  trigger: { afterPublish: 'sensors.*' },
  publishes: ['out.*'],
  async handle(msg, ctx) {
    const name = String((msg.data as { name?: unknown }).name);
    ctx.log.warn('reading from ' + name);
    throw new Error('bad reading from ' + name);
  },
});
`;

it('replay and logs print a device-controlled error or log line with its control characters escaped', async () => {
  const { url, proc } = await startCli(['--secret', SECRET, '--blocks', '/nonexistent', '--log-level', 'warn']);
  procs.push(proc);
  const auth = ['--url', url, '--token', SECRET];
  const dir = await mkdtemp(join(tmpdir(), 'tributary-hostile-'));
  dirs.push(dir);
  const file = join(dir, 'namer.ts');
  await writeFile(file, BLOCK);
  const deployed = await run(['deploy', file, ...auth]);
  expect(deployed, deployed.stderr).toMatchObject({ code: 0 });
  // A window title, a cleared screen, and a carriage return that would overwrite the line.
  const name = '\u001b]0;owned\u0007\u001b[2J\rOK ';
  expect(await run(['pub', 'sensors.d1', JSON.stringify({ name }), ...auth])).toMatchObject({ code: 0 });

  const replayed = await run(['replay', file, '--from', 'sensors.d1', '--since', '0', ...auth]);
  expect(replayed.code).toBe(0);
  expect(replayed.stdout).toContain('! HANDLER_ERROR: bad reading from \\u001b]0;owned\\u0007\\u001b[2J\\u000dOK ');
  expect(replayed.stdout).not.toMatch(CONTROL);

  let logged = '';
  for (let i = 0; i < 100 && !logged.includes('reading from'); i++) {
    const l = await run(['logs', 'namer', '--lines', '5', '--no-follow', ...auth]);
    logged = l.stdout;
    if (!logged.includes('reading from')) await new Promise((r) => setTimeout(r, 100));
  }
  expect(logged).toContain('reading from \\u001b]0;owned\\u0007\\u001b[2J\\u000dOK ');
  expect(logged).not.toMatch(CONTROL);
}, 60_000);
