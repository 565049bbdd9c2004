import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import type { RunnerOptions } from '../src/index.js';
import { deployFixture, echoStillWorks, payloads, requestBody, requestFailure, runner } from './helpers.js';

/**
 * One test per fixture abusing a host module (test/fixtures/hostile): fetch, publish grants, calls
 * after an invocation ended, secrets in logs, host-module lookup. Each asserts the host refused
 * (HOST_REFUSED / CALL_LIMIT), nothing leaked or was stored, and the runner keeps working.
 */
async function setup(fixture: string, options: Partial<RunnerOptions> = {}) {
  const { runner: r, engine } = runner(options);
  await deployFixture(r, 'echo.ts');
  const info = await deployFixture(r, `hostile/${fixture}`);
  return { r, engine, name: info.name };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

/** A loopback server on a random port: /small answers 2 bytes, /big 64 KiB, /redirect points off the allow-list. */
async function loopbackServer(): Promise<{ base: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/big') return res.end('x'.repeat(64 * 1024));
    if (req.url === '/redirect') {
      res.writeHead(302, { location: 'http://localhost:1/elsewhere' });
      return res.end();
    }
    res.end('ok');
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

describe('hostile blocks: host modules', () => {
  it('refuses fetches off the allow-list (HOST_REFUSED) and caps allowed responses', async () => {
    const { base, hits } = await loopbackServer();
    const { r, engine, name } = await setup('fetch-refused.ts', { fetch: { maxBytes: 1024, timeoutMs: 2000 } });
    // Every one of these is refused before any connection is made (only 127.0.0.1 is allowed).
    const port = new URL(base).port;
    for (const url of [
      `http://localhost:${port}/small`, // same server, other name
      `http://127.0.0.2:${port}/small`,
      `http://[::1]:${port}/small`,
      `http://127.0.0.1.nip.io:${port}/small`,
      `http://evil.invalid#@127.0.0.1:${port}/small`,
      `http://user:pw@127.0.0.1:${port}/small`, // credentials
      `file:///etc/passwd`,
      `data:text/plain,hi`,
      'not a url',
    ]) {
      const err = await requestFailure(r, name, { url });
      expect(err.code, url).toBe('HOST_REFUSED');
    }
    expect(hits).toEqual([]);
    // The allowed path works, a redirect off the allow-list is not followed, and a response over
    // the size cap is refused.
    expect(await requestBody(r, name, { url: `${base}/small` })).toEqual({ status: 200, length: 2, location: null });
    expect(await requestBody(r, name, { url: `${base}/redirect` })).toEqual({
      status: 302,
      length: 0,
      location: 'http://localhost:1/elsewhere',
    });
    const big = await requestFailure(r, name, { url: `${base}/big` });
    expect(big.code).toBe('HOST_REFUSED');
    expect(big.message).toMatch(/exceeds 1024 bytes/);
    expect(hits).toEqual(['/small', '/redirect', '/big']);
    await echoStillWorks(engine);
  });

  it('refuses publishing to a channel the block has no grant for, and stores nothing there', async () => {
    const { r, engine, name } = await setup('publish-no-grant.ts');
    for (const channel of ['secret.x', 'allowed', 'in.spoof', '$logs.echo', '$dlq.echo', 'allowed.*', 'allowed.>', '', 'a..b']) {
      const err = await requestFailure(r, name, { channel });
      expect(err.code, channel).toBe('HOST_REFUSED');
    }
    for (const channel of ['secret.x', 'allowed', 'in.spoof', '$logs.echo', '$dlq.echo']) {
      expect(await payloads(engine, channel), channel).toEqual([]);
    }
    // A spoofed message on echo's trigger would have made echo publish: it did not.
    expect(await payloads(engine, 'out.in.spoof')).toEqual([]);
    expect(await requestBody(r, name, { channel: 'allowed.ok' })).toEqual({ offset: 1 });
    await echoStillWorks(engine);
  });

  it("refuses calls through an earlier invocation's ctx, from a later invocation or a dangling continuation", async () => {
    const { r, engine, name } = await setup('stale-ctx.ts');
    expect(await requestBody(r, name, { mode: 'arm' })).toEqual({ armed: true });
    expect(await requestBody(r, name, { mode: 'fire' })).toEqual({
      dangling: 'HOST_REFUSED',
      publish: 'HOST_REFUSED',
      kv: 'HOST_REFUSED',
      fetch: 'HOST_REFUSED',
      own: 'ok',
    });
    expect(await payloads(engine, 'stale.dangling')).toEqual([]);
    expect(await payloads(engine, 'stale.kept')).toEqual([]);
    expect(await engine.kv.get('block:hostile-stale-ctx', 'stolen')).toBeUndefined();
    expect(await payloads(engine, 'stale.own')).toEqual([{ now: true }]);
    await echoStillWorks(engine);
  });

  it('writes "[secret]" instead of a secret a block logs, even where the line is cut', async () => {
    const secret = 'sk-live-4f9a2c7e1b';
    const { r, engine, name } = await setup('secret-logger.ts', { secrets: { 'hostile-secret-logger': { API_KEY: secret } } });
    expect(await requestBody(r, name)).toEqual({ logged: true });
    expect(await requestBody(r, name, { mode: 'boundary' })).toEqual({ logged: true });
    const lines = await eventually(async () => {
      const got = await payloads(engine, `$logs.${name}`);
      return got.length >= 4 ? got : undefined;
    });
    const text = JSON.stringify(lines);
    expect(text).not.toContain(secret);
    // Not even a prefix of it survives the cut at the line cap.
    expect(text).not.toContain(secret.slice(0, 6));
    expect(lines[0]).toMatchObject({
      level: 'info',
      message: 'the key is [secret]',
      fields: { key: '[secret]', '[secret]': 'as a key', nested: { list: ['[secret]'] } },
    });
    expect(lines[1]).toMatchObject({ level: 'error', message: '[secret]' });
    expect(String((lines[2] as { message: string }).message)).toMatch(/^\.{8186}\[secre…\[cut: 8204 chars\]$/);
    await echoStillWorks(engine);
  });

  // docs/BLOCKS.md says exactly this: the exact value (and its JSON-escaped form) of every secret of
  // 4 or more characters is replaced; a value changed in any way, or a shorter secret, is not.
  it('redacts exactly what docs/BLOCKS.md says: exact values of secrets of 4+ characters, nothing derived from them', async () => {
    const secret = 'sk-live-4f9a2c7e1b';
    const { r, engine, name } = await setup('secret-logger.ts', { secrets: { 'hostile-secret-logger': { API_KEY: secret, PIN: '417' } } });
    expect(await requestBody(r, name, { mode: 'transformed' })).toEqual({ logged: true });
    const lines = await eventually(async () => {
      const got = await payloads(engine, `$logs.${name}`);
      return got.length >= 4 ? (got as Array<{ message: string }>).map((l) => l.message) : undefined;
    });
    expect(lines).toEqual([
      `reversed ${secret.split('').reverse().join('')}`,
      `spaced ${secret.split('').join(' ')}`,
      `upper ${secret.toUpperCase()}`,
      'short 417',
    ]);
  });

  it('writes "[secret]" instead of a secret a block puts in the error it throws', async () => {
    const secret = 'sk-live-4f9a2c7e1b';
    const { r, name } = await setup('secret-logger.ts', { secrets: { 'hostile-secret-logger': { API_KEY: secret } } });
    const err = await requestFailure(r, name, { mode: 'throw' });
    expect(err).toMatchObject({ code: 'HANDLER_ERROR', message: 'failed with key [secret]' });
    const stats = r.list().find((b) => b.name === name)?.stats;
    expect(stats?.lastError?.message).toBe('failed with key [secret]');
  });

  it('refuses host-module calls to names inherited from Object (constructor, __proto__)', async () => {
    const { r, engine, name } = await setup('host-module-lookup.ts', {
      modules: { echo: { say: async (args) => ({ said: args }) } },
    });
    expect(await requestBody(r, name)).toEqual({
      'constructor.assign': 'HOST_REFUSED',
      'constructor.getPrototypeOf': 'HOST_REFUSED',
      '__proto__.hasOwnProperty': 'HOST_REFUSED',
      'toString.call': 'HOST_REFUSED',
      'echo.constructor': 'HOST_REFUSED',
      'echo.say': 'ok:{"said":{"probe":true}}',
    });
    await echoStillWorks(engine);
  });
});
