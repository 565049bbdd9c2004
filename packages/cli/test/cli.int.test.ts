import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@tributary/testkit';
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
    expect(await run(['start', '--insecure', '--busy-poll-us', '20000'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--busy-poll-us is at most 10000'),
    });
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
    // An HTTP error prints its code once: `error FORBIDDEN: <the broker's message>`.
    const forbidden = await run(['pub', 'other', '1', '--url', url, '--token', token]);
    expect(forbidden).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error FORBIDDEN: /) });
    expect(forbidden.stderr.match(/FORBIDDEN/g)).toHaveLength(1);
    const anonymous = await run(['pub', 'alerts', '1', '--url', url]);
    expect(anonymous).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error UNAUTHORIZED: /) });
    expect(anonymous.stderr.match(/UNAUTHORIZED/g)).toHaveLength(1);
    // sub waits for a broker that is not up yet, but not for credentials the broker refused.
    expect(await run(['sub', 'alerts', '--url', url, '--token', 'not-a-token'])).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^error UNAUTHORIZED: /),
    });
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

    // A block the broker refuses prints the broker's code, once (not REJECTED: INVALID_BLOCK: …).
    const invalid = join(dir, 'invalid.ts');
    await writeFile(
      invalid,
      "import { defineBlock } from '@tributary/block';\nexport default defineBlock({ name: 'Bad Name', trigger: { request: true }, handle: () => ({}) });\n",
    );
    const i = await run(['deploy', invalid, '--url', url]);
    expect(i).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error INVALID_BLOCK: /) });
    expect(i.stderr.match(/INVALID_BLOCK/g)).toHaveLength(1);

    // Node built-ins: a compile error that says what to use instead, for `node:fs` and bare `fs` alike.
    for (const spec of ['node:fs', 'fs']) {
      const file = join(dir, `uses-fs-${spec.replace(':', '-')}.ts`);
      await writeFile(
        file,
        `import { readFileSync } from '${spec}';\nimport { defineBlock } from '@tributary/block';\nexport default defineBlock({ name: 'reader', trigger: { request: true }, handle: () => ({ body: String(readFileSync('/etc/hostname')) }) });\n`,
      );
      const r = await run(['deploy', file, '--url', url]);
      expect(r.code, spec).toBe(1);
      expect(r.stderr, spec).toContain(`blocks cannot import Node built-ins (${spec})`);
      expect(r.stderr, spec).toContain('ctx.kv');
      expect(r.stderr, spec).not.toContain('Could not resolve');
    }
    // Fourteen CLI processes, each booting TypeScript through tsx: on a loaded 2-core CI machine
    // eleven alone took most of the default 30 s.
  }, 120_000);

  it('every client command takes the broker as http(s):// or ws(s)://, with or without /v1/ws', async () => {
    const url = await broker();
    const ws = url.replace(/^http:/, 'ws:');
    let offset = 0;
    for (const u of [url, ws, `${ws}/v1/ws`, `${url}/`]) {
      expect(await run(['pub', 'any.url', JSON.stringify(u), '--url', u]), u).toMatchObject({ code: 0, stdout: `${++offset}\n` });
    }
    expect(await run(['pub', 'any.url', '"env"'], { TRIBUTARY_URL: `${ws}/v1/ws` })).toMatchObject({ code: 0, stdout: `${++offset}\n` });
    const h = await run(['history', 'any.url', '--url', ws]);
    expect(h.code).toBe(0);
    expect(h.stdout.trim().split('\n')).toHaveLength(offset);
    const s = await run(['sub', 'any.url', '--since', '0', '--count', String(offset), '--url', `${ws}/v1/ws`]);
    expect(s.code).toBe(0);
    expect(s.stdout.trim().split('\n')).toHaveLength(offset);

    const dir = await mkdtemp(join(tmpdir(), 'tributary-cli-url-'));
    const file = join(dir, 'echo.ts');
    await writeFile(
      file,
      "import { defineBlock } from '@tributary/block';\nexport default defineBlock({ name: 'url-echo', trigger: { request: true }, handle: () => ({ body: 'ok' }) });\n",
    );
    expect(await run(['deploy', file, '--url', ws])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^deployed url-echo@/) });
    expect(await run(['logs', 'url-echo', '--no-follow', '--url', `${ws}/v1/ws`])).toMatchObject({ code: 0 });

    // image-url prints the HTTP(S) URL of the image, whichever form it was given.
    const img = await run(['image-url', 'uploads/ab12', '--width', '10', '--insecure', '--url', 'wss://broker.example:8443/v1/ws']);
    expect(img).toMatchObject({ code: 0, stdout: expect.stringMatching(/^https:\/\/broker\.example:8443\/v1\/images\//) });

    // What names no broker is a usage error naming the flag, not "is the broker running?".
    expect(await run(['pub', 'a', '1', '--url', 'ftp://x'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--url') });
    expect(await run(['pub', 'a', '1', '--url', `${ws}/v1/ws?token=abc`])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('TRIBUTARY_TOKEN'),
    });
  }, 90_000);

  it('sub started before the broker waits for it, then prints what is published', async () => {
    const port = await freePort();
    const sub = spawnCli(['sub', 'early.bird', '--count', '1', '--url', `ws://127.0.0.1:${port}`]);
    procs.push(sub);
    // The first connection attempt failed and sub said it keeps trying (today: exit with 1006).
    await sub.waitFor((l) => l.includes('waiting for the broker'), 20_000, 'stderr');
    expect(sub.child.exitCode).toBeNull();
    const { proc } = await startCli(['--insecure', '--port', String(port), '--blocks', '/nonexistent', '--log-level', 'warn']);
    procs.push(proc);
    // sub subscribes once it connects; publish until it has printed one message and exited.
    for (let i = 0; sub.child.exitCode === null && i < 200; i++) {
      expect((await run(['pub', 'early.bird', '{"worm":true}', '--url', `http://127.0.0.1:${port}`])).code).toBe(0);
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(await sub.stop()).toBe(0);
    expect(JSON.parse(sub.lines[0] as string)).toMatchObject({ channel: 'early.bird', data: { worm: true } });
  }, 90_000);
});
