import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { run, spawnCli, startCli, type Running } from './cli.js';

const SECRET = 'cli-test-secret-that-is-at-least-32-bytes';
const procs: Running[] = [];
afterEach(async () => {
  while (procs.length > 0) await procs.pop()?.stop('SIGKILL');
});

async function broker(args: string[] = ['--insecure']): Promise<string> {
  const { url, proc } = await startCli([...args, '--blocks', '/nonexistent', '--log-level', 'warn']);
  procs.push(proc);
  return url;
}

describe('tributary CLI', () => {
  it('start prints its URL; pub prints offsets; sub prints JSON lines and exits after --count; history reads back', async () => {
    const url = await broker();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const sub = spawnCli(['sub', 'chat.*', '--count', '1', '--url', url]);
    procs.push(sub);
    // A pattern subscription is live-only: publish until the subscriber has printed one and exited.
    let offset = 0;
    for (let i = 0; sub.child.exitCode === null && i < 100; i++) {
      const r = await run(['pub', 'chat.lobby', '{"text":"hello"}', '--url', url]);
      expect(r.code).toBe(0);
      expect(Number(r.stdout.trim())).toBe(++offset);
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(await sub.stop()).toBe(0);
    expect(sub.lines).toHaveLength(1);
    expect(JSON.parse(sub.lines[0] as string)).toMatchObject({ channel: 'chat.lobby', data: { text: 'hello' } });

    const h = await run(['history', 'chat.lobby', '--url', url]);
    expect(h.code).toBe(0);
    expect(JSON.parse(h.stdout.trim().split('\n')[0] as string)).toMatchObject({ channel: 'chat.lobby', data: { text: 'hello' } });
    expect(h.stdout.trim().split('\n')).toHaveLength(offset);
  });

  it('sub --since replays an exact channel from an offset', async () => {
    const url = await broker();
    for (let i = 1; i <= 5; i++) await run(['pub', 'feed', String(i), '--url', url]);
    const r = await run(['sub', 'feed', '--since', '2', '--count', '3', '--url', url]);
    expect(r.code).toBe(0);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { data: number }).data),
    ).toEqual([3, 4, 5]);
  });

  it('refuses bad usage with exit code 2 and a message, and unreachable brokers with exit code 1', async () => {
    expect(await run(['pub', 'chat'])).toMatchObject({ code: 2, stderr: expect.stringContaining('pub takes <channel> <json>') });
    expect(await run(['pub', 'chat', 'not json'])).toMatchObject({ code: 2, stderr: expect.stringContaining('not valid JSON') });
    expect(await run(['start'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--insecure') });
    expect(await run(['nope'])).toMatchObject({ code: 2 });
    expect(await run(['pub', 'a', '1', '--url', 'http://127.0.0.1:1'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('UNAVAILABLE'),
    });
  });

  it('token signs grants the broker enforces', async () => {
    const url = await broker(['--secret', SECRET]);
    const tok = await run(['token', '--grant', 'alerts:pub', '--ttl', '1h', '--sub', 'device-1', '--secret', SECRET]);
    expect(tok.code).toBe(0);
    const token = tok.stdout.trim();
    expect(await run(['pub', 'alerts', '1', '--url', url, '--token', token])).toMatchObject({ code: 0, stdout: '1\n' });
    expect(await run(['pub', 'other', '1', '--url', url, '--token', token])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('FORBIDDEN'),
    });
    expect(await run(['pub', 'alerts', '1', '--url', url])).toMatchObject({ code: 1, stderr: expect.stringContaining('UNAUTHORIZED') });
  });

  it('deploys a block to a running broker, reports compile errors with file:line, and tails its logs', async () => {
    const url = await broker();
    const dir = await mkdtemp(join(tmpdir(), 'tributary-cli-'));
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'block.json'), JSON.stringify({ entry: 'src/index.ts', config: { suffix: '!' } }));
    await writeFile(
      join(dir, 'src/index.ts'),
      `
      import { defineBlock } from '@tributary/block';
      export default defineBlock({
        name: 'shout',
        trigger: { beforePublish: 'loud.*' },
        handle(msg, ctx) {
          ctx.log.info('shouting', { offset: msg.offset });
          return { data: String(msg.data).toUpperCase() + String(ctx.config.suffix) };
        },
      });`,
    );
    const d = await run(['deploy', dir, '--url', url]);
    expect(d).toMatchObject({ code: 0, stdout: expect.stringMatching(/^deployed shout@[0-9a-f]{12}/) });
    await run(['pub', 'loud.x', '"hey"', '--url', url]);
    const h = await run(['history', 'loud.x', '--url', url]);
    expect(JSON.parse(h.stdout.trim())).toMatchObject({ data: 'HEY!' });
    const logs = await run(['logs', 'shout', '--no-follow', '--url', url]);
    expect(logs.stdout).toMatch(/INFO .*shouting \{"offset":0\}/);
    // Whoever may write $logs.shout can put anything there: such lines print as JSON, the rest as before.
    for (const junk of ['null', '42', '{"level":5,"time":"soon"}']) await run(['pub', '$logs.shout', junk, '--url', url]);
    const mixed = await run(['logs', 'shout', '--no-follow', '--url', url]);
    expect(mixed.code).toBe(0);
    expect(mixed.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/INFO .*shouting \{"offset":0\}/),
      'null',
      '42',
      '{"level":5,"time":"soon"}',
    ]);

    const bad = join(dir, 'bad.ts');
    await writeFile(bad, 'export default {\n  name: ,\n};\n');
    const c = await run(['deploy', bad, '--url', url]);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/bad\.ts:2:\d+: /);
    // Eleven CLI processes, each booting TypeScript through tsx: on a loaded 2-core CI machine that
    // alone took most of the default 30 s.
  }, 90_000);
});
