import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { run, startCli, type Running } from './cli.js';

// `tributary trace` and `tributary replay` end to end: a broker started by the CLI, the first-party
// sensor-average deployed with `tributary deploy`, readings published with `tributary pub`.

const SECRET = 'cli-trace-secret-that-is-at-least-32-bytes';
const blocks = fileURLToPath(new URL('../../../blocks/', import.meta.url));
const procs: Running[] = [];
const dirs: string[] = [];
afterEach(async () => {
  while (procs.length > 0) await procs.pop()?.stop('SIGKILL');
  while (dirs.length > 0) await rm(dirs.pop() as string, { recursive: true, force: true });
});

describe('tributary trace and replay', () => {
  it('trace walks an average back to the reading; replay prints a changed version as a diff and writes only with --into', async () => {
    const { url, proc } = await startCli(['--secret', SECRET, '--blocks', '/nonexistent', '--log-level', 'warn']);
    procs.push(proc);
    const auth = ['--url', url, '--token', SECRET];
    for (const name of ['sensor-average', 'temperature-alert']) {
      expect(await run(['deploy', join(blocks, name), ...auth])).toMatchObject({ code: 0 });
    }
    expect(await run(['pub', 'sensors.d1', '{"celsius":45}', ...auth])).toMatchObject({ code: 0, stdout: '1\n' });
    let traced = { code: 1 as number | null, stdout: '', stderr: '' };
    for (let i = 0; i < 100 && traced.code !== 0; i++) {
      traced = await run(['trace', 'alerts.temperature', '1', ...auth]);
      if (traced.code !== 0) await new Promise((r) => setTimeout(r, 100));
    }
    const lines = traced.stdout.trim().split('\n');
    // What the README's quick start promises for the same reading and command.
    const readme = await readFile(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
    expect(readme).toContain('tributary pub sensors.d1 \'{"celsius":45}\'');
    expect(readme).toContain('tributary trace alerts.temperature 1 ');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      /^alerts\.temperature#1 {2}by temperature-alert@[0-9a-f]{12} \+\d+ ms {2}\S+Z {2}\{"device":"d1","celsius":45/,
    );
    expect(lines[1]).toMatch(/^averages\.d1#1 {2}by sensor-average@[0-9a-f]{12} \+\d+ ms/);
    expect(lines[2]).toMatch(/^sensors\.d1#1 {2}original {2}\S+Z {2}\{"celsius":45\}$/);
    const json = await run(['trace', 'alerts.temperature', '1', '--json', ...auth]);
    expect((JSON.parse(json.stdout) as { steps: unknown[] }).steps).toHaveLength(3);

    // A changed copy of sensor-average: its averages carry a unit.
    const dir = await mkdtemp(join(tmpdir(), 'tributary-replay-'));
    dirs.push(dir);
    await cp(join(blocks, 'sensor-average', 'src'), join(dir, 'src'), { recursive: true });
    await cp(join(blocks, 'sensor-average', 'block.json'), join(dir, 'block.json'));
    const src = join(dir, 'src', 'index.ts');
    await writeFile(
      src,
      (await readFile(src, 'utf8')).replace('const average: Average = {', "const average: Average & { unit: string } = { unit: 'C',"),
    );

    const same = await run(['replay', join(blocks, 'sensor-average'), '--from', 'sensors.d1', '--since', '0', ...auth]);
    expect(same.code).toBe(0);
    expect(same.stdout).toMatch(/^= sensors\.d1#1 \{"celsius":45\}: same \(1 output\)$/m);
    expect(same.stdout).toMatch(/1 inputs, 1 outputs, 0 differing\n$/);

    const changed = await run(['replay', dir, '--from', 'sensors.d1', '--limit', '5', ...auth]);
    expect(changed.code).toBe(0);
    expect(changed.stdout).toMatch(/^≠ sensors\.d1#1 \{"celsius":45\}$/m);
    expect(changed.stdout).toMatch(/^ {2}- averages\.d1 \{"device":"d1","celsius":45,"count":1,"windowStart":\d+\}$/m);
    expect(changed.stdout).toMatch(/^ {2}\+ averages\.d1 \{"unit":"C","device":"d1","celsius":45,"count":1,"windowStart":\d+\}$/m);
    expect(changed.stdout).toMatch(/1 inputs, 1 outputs, 1 differing\n$/);
    // Nothing was written: the prefix channel is empty.
    expect((await run(['history', 'trial.averages.d1', ...auth])).stdout).toBe('');

    const into = await run(['replay', dir, '--from', 'sensors.d1', '--into', 'trial', ...auth]);
    expect(into.stdout).toContain('outputs published under trial.');
    const h = await run(['history', 'trial.averages.d1', ...auth]);
    expect(JSON.parse(h.stdout.trim())).toMatchObject({ channel: 'trial.averages.d1', data: { unit: 'C', celsius: 45 } });
    // …and its output traces back to the reading it was made from (--json: the broker's reply).
    const back = await run(['trace', 'trial.averages.d1', '1', '--json', ...auth]);
    expect((JSON.parse(back.stdout) as { steps: unknown[] }).steps).toMatchObject([
      { channel: 'trial.averages.d1', block: 'sensor-average' },
      { channel: 'sensors.d1', offset: 1 },
    ]);
    expect(await run(['replay', dir, ...auth])).toMatchObject({ code: 2, stderr: expect.stringContaining('--from') });
  }, 90_000);
});
