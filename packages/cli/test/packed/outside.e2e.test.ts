import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { build } from 'esbuild';
import { type RedisServer, startRedis, eventually } from '@tributary/testkit';
import { launchChromium } from '@tributary/testkit/chromium';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, REPO, sh, spawnProc, userEnv } from './project.js';

// What an application developer does with the packages, outside this workspace: pack them as
// `pnpm publish` would, install the tarballs with plain npm into an empty project (no pnpm, no
// workspace, no TypeScript loader), and use them the way the README's "Use it from your app" says.

const FIXTURES = new URL('.', import.meta.url);
const SECRET = 'outside-the-workspace-secret-0123456789abcdef';
let work: string;
let app: string;
let tarballs: Record<string, string>;
let redis: RedisServer;
const procs: Proc[] = [];

/** `npx tributary start …` in the app; resolves with the broker's base URL once it listens. */
async function startBroker(args: string[], env: Record<string, string> = {}): Promise<{ proc: Proc; url: string }> {
  const proc = spawnProc('npx', ['tributary', 'start', ...args], app, userEnv(env));
  procs.push(proc);
  const line = await proc.waitFor((l) => /listening on http:\/\//.test(l));
  return { proc, url: /listening on (http:\/\/\S+)/.exec(line)?.[1] ?? '' };
}

async function health(url: string): Promise<{ engine: string }> {
  return (await fetch(`${url}/healthz`)).json() as Promise<{ engine: string }>;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tributary-outside-'));
  app = join(work, 'my-app');
  const packed = await sh(process.execPath, ['scripts/release/pack.mjs', join(work, 'tarballs')], REPO, {
    env: process.env,
    timeoutMs: 300_000,
  });
  tarballs = Object.fromEntries(
    packed.stdout
      .trim()
      .split('\n')
      .map((file) => [/^tributary-([a-z-]+)-\d/.exec(basename(file))?.[1] ?? file, file]),
  );
  await mkdir(app);
  await writeFile(join(app, 'package.json'), `${JSON.stringify({ name: 'my-app', private: true, type: 'module' }, null, 2)}\n`);
  // Every @tributary package from its tarball (the registry would serve them the same way), `ws`
  // from the registry: what `npm install @tributary/client ws` and `npm install @tributary/cli` do.
  await sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...Object.values(tarballs), 'ws'], app, {
    timeoutMs: 600_000,
  });
  for (const file of ['client-check.mjs', 'browser-entry.mjs']) await copyFile(new URL(file, FIXTURES), join(app, file));
  redis = await startRedis();
}, 900_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await redis?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe('installed with plain npm, outside the workspace', () => {
  let embedded: string;
  let onRedis: { proc: Proc; url: string; port: string };

  it('each installed package carries its license, README, CHANGELOG, types and source maps with the sources in them', async () => {
    for (const short of Object.keys(tarballs)) {
      const dir = join(app, 'node_modules', '@tributary', short);
      for (const file of ['LICENSE', 'README.md', 'CHANGELOG.md', 'dist/index.d.ts']) {
        expect(existsSync(join(dir, file)), `${short}/${file}`).toBe(true);
      }
      const map = JSON.parse(await readFile(join(dir, 'dist', 'index.js.map'), 'utf8')) as { sourcesContent?: string[] };
      expect(map.sourcesContent?.[0], `${short} source map`).toBeTruthy();
      expect(existsSync(join(dir, 'src')), `${short} ships no TypeScript source`).toBe(false);
    }
  });

  it('npx tributary start --insecure serves a broker on the embedded engine', async () => {
    const { url } = await startBroker(['--insecure', '--port', '0']);
    expect(await health(url)).toMatchObject({ engine: 'memory' });
    const pub = await sh('npx', ['tributary', 'pub', '--url', url, 'chat.lobby', '{"text":"hi"}'], app);
    expect(pub.stdout.trim()).toBe('1');
    embedded = url;
  });

  it("the bridge's command runs from its installed bin", async () => {
    const help = await sh('npx', ['tributary-mqtt-bridge', '--help'], app);
    expect(help.stdout).toContain('--mqtt');
  });

  it('npx tributary start --redis serves a broker on Redis, with token auth', async () => {
    const { proc, url } = await startBroker(['--redis', redis.url, '--port', '0'], { TRIBUTARY_SECRET: SECRET });
    expect(await health(url)).toMatchObject({ engine: 'redis' });
    onRedis = { proc, url, port: new URL(url).port };
  });

  // The client script against the Redis broker: restarting that broker is the forced reconnect, and
  // Redis keeps the history the subscription resumes from.
  async function runClient(nodeArgs: string[]): Promise<{ globalSockets: number }> {
    const token = (
      await sh('npx', ['tributary', 'token', '--grant', 'feed.*:pub,sub', '--ttl', '1h'], app, {
        env: userEnv({ TRIBUTARY_SECRET: SECRET }),
      })
    ).stdout.trim();
    const channel = `feed.${nodeArgs.length}`;
    const script = spawnProc(
      process.execPath,
      [...nodeArgs, 'client-check.mjs'],
      app,
      userEnv({
        TRIBUTARY_WS_URL: onRedis.url.replace(/^http/, 'ws'),
        TRIBUTARY_TOKEN: token,
        CHANNEL: channel,
        FORBIDDEN_CHANNEL: 'other',
      }),
    );
    procs.push(script);
    const step = async (name: string) => JSON.parse(await script.waitFor((l) => l.includes(`"step":"${name}"`)));
    expect(await step('live')).toMatchObject({ got: [1, 2, 3] });
    await step('restart-broker');
    await onRedis.proc.stop();
    onRedis = { ...(await startBroker(['--redis', redis.url, '--port', onRedis.port], { TRIBUTARY_SECRET: SECRET })), port: onRedis.port };
    script.child.stdin?.write('go\n');
    expect(await step('resumed')).toEqual({ step: 'resumed', got: [1, 2, 3, 4, 5, 6], recoveries: [true] });
    expect(await step('forbidden')).toEqual({ step: 'forbidden', code: 'FORBIDDEN' });
    return step('done');
  }

  it('a plain Node ESM script publishes, subscribes, resumes after a forced reconnect and handles FORBIDDEN (ws)', async () => {
    const plainHasGlobal = (await sh(process.execPath, ['-e', 'process.stdout.write(typeof WebSocket)'], app)).stdout === 'function';
    const done = await runClient([]);
    // Node 20 has no global WebSocket: the client loaded the installed `ws` by itself.
    if (!plainHasGlobal) expect(done.globalSockets).toBe(0);
    else expect(done.globalSockets).toBeGreaterThan(0);
  }, 120_000);

  it('CommonJS reaches the ESM-only client through require() where Node has require(esm) (≥ 20.19)', async () => {
    const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
    const code = "const { TributaryClient } = require('@tributary/client'); process.stdout.write(typeof TributaryClient);";
    const result = await sh(process.execPath, ['-e', code], app).catch((err: Error) => ({ stdout: err.message }));
    if (major > 20 || minor >= 19) expect(result.stdout).toBe('function');
    else expect(result.stdout).toMatch(/ERR_REQUIRE_ESM/);
  });

  it('the same script on the global WebSocket (Node 20 behind --experimental-websocket)', async () => {
    const [major] = process.versions.node.split('.').map(Number);
    const done = await runClient((major ?? 0) < 22 ? ['--experimental-websocket'] : []);
    expect(done.globalSockets).toBeGreaterThan(0);
  }, 120_000);

  it('a browser bundle of the client made with esbuild receives messages in headless Chromium', async () => {
    const out = await build({
      absWorkingDir: app,
      entryPoints: ['browser-entry.mjs'],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      logLevel: 'silent',
    });
    const bundle = out.outputFiles[0]?.text ?? '';
    const page = `<!doctype html><script type="module" src="/app.js"></script>`;
    const server: Server = createServer((req, res) => {
      const js = req.url === '/app.js';
      res.writeHead(200, { 'content-type': js ? 'text/javascript' : 'text/html' }).end(js ? bundle : page);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const browser = await launchChromium();
    try {
      const tab = await browser.context.newPage();
      await tab.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await tab.waitForFunction(() => 'roundTrip' in globalThis);
      const result = await tab.evaluate(
        ([url, channel]) => (globalThis as unknown as { roundTrip(u: string, c: string): Promise<unknown> }).roundTrip(url, channel),
        [embedded.replace(/^http/, 'ws'), 'browser.check'] as const,
      );
      expect(result).toEqual({
        got: [
          { from: 'chromium', n: 1 },
          { from: 'chromium', n: 2 },
        ],
        hasGlobalWebSocket: true,
      });
    } finally {
      await browser.close();
      server.close();
    }
  }, 120_000);

  it('npx tributary init block makes a project whose test passes in the sandbox, and deploy runs it', async () => {
    await sh('npx', ['tributary', 'init', 'block', 'greeter'], app);
    const project = join(app, 'blocks', 'greeter');
    // The registry would resolve the @tributary ranges to the released packages; here the tarballs
    // stand in, for the project's own dependencies and for theirs (npm's overrides).
    const pkg = JSON.parse(await readFile(join(project, 'package.json'), 'utf8'));
    const local = Object.fromEntries(Object.entries(tarballs).map(([short, file]) => [`@tributary/${short}`, `file:${file}`]));
    for (const deps of [pkg.dependencies, pkg.devDependencies]) {
      for (const name of Object.keys(deps)) if (local[name] !== undefined) deps[name] = local[name];
    }
    pkg.overrides = local;
    await writeFile(join(project, 'package.json'), JSON.stringify(pkg, null, 2));
    // isolated-vm has no prebuilt binary this machine can download, so npm compiled it for the app a
    // minute ago; the block project takes that build through prebuild-install's local prebuilds
    // (it falls back to compiling if the name does not match). Compiling twice tests nothing more.
    const prebuilds = join(work, 'prebuilds');
    await mkdir(prebuilds, { recursive: true });
    const ivm = join(app, 'node_modules', 'isolated-vm');
    const { version } = JSON.parse(await readFile(join(ivm, 'package.json'), 'utf8'));
    const tarball = `isolated-vm-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
    await sh('tar', ['-czf', join(prebuilds, tarball), '-C', ivm, 'out/isolated_vm.node'], app);
    const env = userEnv({ npm_config_isolated_vm_local_prebuilds: prebuilds });
    await sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], project, { env, timeoutMs: 600_000 });
    const test = await sh('npm', ['test'], project, { timeoutMs: 120_000 });
    expect(test.stdout).toMatch(/1 passed/);

    await sh('npx', ['tributary', 'deploy', 'blocks/greeter', '--url', embedded], app);
    await sh('npx', ['tributary', 'pub', '--url', embedded, 'greetings.in', '{"who":"npm"}'], app);
    await eventually(
      async () => (await sh('npx', ['tributary', 'history', '--url', embedded, 'greetings.out'], app)).stdout.includes('hello, npm!'),
      { message: 'the deployed block greets', timeoutMs: 20_000 },
    );
  }, 900_000);
});
