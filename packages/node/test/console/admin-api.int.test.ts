import { createToken } from '@tributary/broker';
import { connectWs, eventually } from '@tributary/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXED_BLOCK } from './fixtures.js';
import { call, SECRET, startConsoleNode, type ConsoleNode } from './helpers.js';

// The admin HTTP API the console is built on (docs/PROTOCOL.md, "Admin API"), against a real node.
describe('admin API', () => {
  let n: ConsoleNode;
  let userToken: string;
  beforeAll(async () => {
    n = await startConsoleNode();
    userToken = await createToken({ secret: SECRET, grants: { '>': ['publish', 'subscribe', 'history'] } });
  });
  afterAll(async () => n?.close());

  const adminRoutes: Array<[string, string]> = [
    ['GET', '/v1/admin/overview'],
    ['GET', '/v1/admin/channels'],
    ['GET', '/v1/admin/blocks'],
    ['GET', '/v1/admin/blocks/flaky/dlq'],
    ['POST', '/v1/admin/blocks/flaky/dlq/1/replay'],
    ['POST', '/v1/admin/blocks/flaky/dlq/1/drop'],
    ['POST', '/v1/admin/blocks'],
  ];
  it.each(adminRoutes)('%s %s is 401 without credentials and 403 with a non-admin token', async (method, path) => {
    const anon = await call(n.url, method, path);
    expect(anon.status).toBe(401);
    expect(anon.body.error.code).toBe('UNAUTHORIZED');
    const user = await call(n.url, method, path, { token: userToken });
    expect(user.status).toBe(403);
    expect(user.body.error.code).toBe('FORBIDDEN');
  });

  it('overview describes the node, with a request id on the reply', async () => {
    const ws = await connectWs(`${n.node.broker.wsUrl}?token=${SECRET}`);
    try {
      const r = await call(n.url, 'GET', '/v1/admin/overview', { token: SECRET });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ node: n.node.broker.nodeId, engine: 'memory', insecure: false, connections: 1 });
      expect(r.body.uptimeMs).toBeGreaterThanOrEqual(0);
      expect(r.headers.get('x-request-id')).toMatch(/^[\w-]{10}$/);
    } finally {
      await ws.close();
    }
  });

  it('channels lists published channels with rate and last offset, and subscribed ones with counts', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await call(n.url, 'POST', '/v1/channels/metrics.cpu/messages', { token: SECRET, body: { data: i } })).status).toBe(201);
    }
    const ws = await connectWs(`${n.node.broker.wsUrl}?token=${SECRET}`);
    try {
      await ws.request({ type: 'subscribe', channel: 'chat.quiet' });
      await ws.request({ type: 'subscribe', channel: 'chat.*' });
      expect((await call(n.url, 'POST', '/v1/channels/chat.lobby/messages', { token: SECRET, body: { data: 'hi' } })).status).toBe(201);
      const r = await call(n.url, 'GET', '/v1/admin/channels', { token: SECRET });
      expect(r.status).toBe(200);
      const row = (channel: string) => r.body.channels.find((c: { channel: string }) => c.channel === channel);
      const cpu = row('metrics.cpu');
      expect(cpu).toMatchObject({ system: false, subscribers: 0, patternSubscribers: 0, lastOffset: 3 });
      expect(cpu.ratePerSec).toBeGreaterThan(0);
      // A channel counts every subscription its messages reach: exact ones and the patterns it matches.
      expect(row('chat.quiet')).toMatchObject({ subscribers: 2, patternSubscribers: 1, lastOffset: null, ratePerSec: 0 });
      expect(row('chat.lobby')).toMatchObject({ subscribers: 1, patternSubscribers: 1, lastOffset: 1 });
      expect(r.body.patterns).toContainEqual({ pattern: 'chat.*', subscribers: 1 });
    } finally {
      await ws.close();
    }
  });

  it('lists dead letters, keeps one whose replay fails, drops one, and replays one after a fix', async () => {
    for (const ch of ['orders.a', 'orders.b']) {
      await call(n.url, 'POST', `/v1/channels/${ch}/messages`, { token: SECRET, body: { data: { item: ch } } });
    }
    const dlq = await eventually(
      async () => {
        const r = await call(n.url, 'GET', '/v1/admin/blocks/flaky/dlq', { token: SECRET });
        return r.body.entries?.length === 2 ? r.body : undefined;
      },
      { message: 'two dead letters', timeoutMs: 15_000 },
    );
    expect(dlq).toMatchObject({ block: 'flaky', channel: '$dlq.flaky', unresolved: 2 });
    // biome-ignore lint/suspicious/noExplicitAny: dead-letter rows as the API returns them.
    const [a, b] = [...dlq.entries].sort((x: any, y: any) => x.record.channel.localeCompare(y.record.channel));
    expect(a.record).toMatchObject({
      block: 'flaky',
      channel: 'orders.a',
      data: { item: 'orders.a' },
      error: { code: 'HANDLER_ERROR' },
      attempts: 5,
    });

    // Still broken: the typed error comes back and the entry stays.
    const failed = await call(n.url, 'POST', `/v1/admin/blocks/flaky/dlq/${a.offset}/replay`, { token: SECRET });
    expect(failed.status).toBe(422);
    expect(failed.body.error).toMatchObject({ code: 'HANDLER_ERROR' });
    expect(failed.body.error.message).toContain('inventory service down');

    const dropped = await call(n.url, 'POST', `/v1/admin/blocks/flaky/dlq/${b.offset}/drop`, { token: SECRET });
    expect(dropped.status).toBe(200);
    expect(dropped.body.dropped.offset).toBe(b.offset);

    const deployed = await call(n.url, 'POST', '/v1/admin/blocks', { token: SECRET, body: { source: FIXED_BLOCK } });
    expect(deployed.status).toBe(201);
    const replayed = await call(n.url, 'POST', `/v1/admin/blocks/flaky/dlq/${a.offset}/replay`, { token: SECRET });
    expect(replayed.status).toBe(200);
    expect(replayed.body.replayed.record.channel).toBe('orders.a');
    const done = await call(n.url, 'GET', '/v1/channels/orders-done.a/messages', { token: SECRET });
    expect(done.body.messages.map((m: { data: unknown }) => m.data)).toContainEqual({ from: 'orders.a', offset: 1 });

    const after = await call(n.url, 'GET', '/v1/admin/blocks/flaky/dlq', { token: SECRET });
    expect(after.body).toMatchObject({ unresolved: 0, entries: [] });
    // Resolved marks live in the engine's kv, so every node agrees; a second replay finds nothing.
    expect((await call(n.url, 'POST', `/v1/admin/blocks/flaky/dlq/${a.offset}/replay`, { token: SECRET })).status).toBe(404);
    expect((await call(n.url, 'POST', `/v1/admin/blocks/flaky/dlq/${b.offset}/drop`, { token: SECRET })).status).toBe(404);
    expect((await call(n.url, 'POST', '/v1/admin/blocks/flaky/dlq/999/drop', { token: SECRET })).status).toBe(404);
    expect((await call(n.url, 'GET', '/v1/admin/blocks/flaky/dlq?limit=0', { token: SECRET })).status).toBe(400);
  });

  it('deploys TypeScript source, refusing imports other than @tributary/block and bad JSON', async () => {
    const ok = await call(n.url, 'POST', '/v1/admin/blocks', {
      token: SECRET,
      body: { source: FIXED_BLOCK.replace("'flaky'", "'echo'"), config: { x: 1 } },
    });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ name: 'echo', version: expect.stringMatching(/^[0-9a-f]{12}$/) });
    const list = await call(n.url, 'GET', '/v1/admin/blocks', { token: SECRET });
    expect(list.body.blocks.map((b: { name: string }) => b.name)).toContain('echo');

    const sneaky = await call(n.url, 'POST', '/v1/admin/blocks', {
      token: SECRET,
      body: { source: `import pkg from '../../package.json';\nconsole.log(pkg);\n${FIXED_BLOCK}` },
    });
    expect(sneaky.status).toBe(422);
    expect(sneaky.body.error.code).toBe('COMPILE_ERROR');
    expect(sneaky.body.error.message).toContain('may import only @tributary/block');

    const typo = await call(n.url, 'POST', '/v1/admin/blocks', { token: SECRET, body: { source: 'export default defineBlock({' } });
    expect(typo.status).toBe(422);
    expect(typo.body.error.message).toMatch(/block\.ts:1:\d+/);

    expect((await call(n.url, 'POST', '/v1/admin/blocks', { token: SECRET, body: '{nope' })).status).toBe(400);
    expect((await call(n.url, 'POST', '/v1/admin/blocks', { token: SECRET, body: {} })).status).toBe(400);
    const garbled = await call(n.url, 'GET', '/v1/admin/blocks/%E0%A4%A/dlq', { token: SECRET });
    expect(garbled.status).toBe(404);
    expect(garbled.body.error.code).toBe('NOT_FOUND');
    const call404 = await call(n.url, 'POST', '/v1/blocks/%ZZ/x', { token: SECRET, body: {} });
    expect(call404.status).toBe(404);
    expect(call404.body.error.code).toBe('NOT_FOUND');
  });
});

describe('console files', () => {
  let n: ConsoleNode;
  beforeAll(async () => {
    n = await startConsoleNode();
  });
  afterAll(async () => n?.close());

  it('serves the app without credentials, from this origin only', async () => {
    const redirect = await call(n.url, 'GET', '/console');
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('/console/');
    const page = await call(n.url, 'GET', '/console/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(page.body).toContain('<script type="module" src="app.js">');
    expect(page.body).not.toMatch(/https?:\/\//); // no CDN
    const js = await call(n.url, 'GET', '/console/app.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toContain('text/javascript');
  });

  it.each(['/console/../package.json', '/console/%2e%2e/package.json', '/console/nope.js', '/console/tsconfig.json', '/consolex'])(
    'refuses %s',
    async (path) => {
      expect((await call(n.url, 'GET', path)).status).toBe(404);
    },
  );
});
