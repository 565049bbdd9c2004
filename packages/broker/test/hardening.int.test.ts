import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { connectWs, eventually } from '@tributary/testkit';
import WebSocket from 'ws';
import { createToken, type Broker } from '../src/index.js';
import { broker, SECRET, socket } from './helpers.js';
import { brokerContext } from '../src/internal.js';

const JSON_TYPE = { 'content-type': 'application/json' };

async function ping(b: Broker, query = ''): Promise<void> {
  const s = await socket(b.wsUrl + query);
  expect(await s.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
}

describe('hostile frames do not end the broker', () => {
  it.each([
    ['a type of 5,000 nested arrays', `{"type":${'['.repeat(5000)}${']'.repeat(5000)}}`],
    ['a type of a 5,000-deep object chain', `{"type":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`],
    ['data 100,000 levels deep', `{"type":"publish","channel":"a","data":${'['.repeat(100_000)}${']'.repeat(100_000)}}`],
  ])('answers %s with INVALID_FRAME and keeps the connection', async (_name, text) => {
    const b = await broker({ maxPayloadBytes: 256 * 1024 });
    const s = await socket(b.wsUrl);
    s.sendRaw(text);
    expect(await s.next((f) => f.type === 'error')).toMatchObject({ code: 'INVALID_FRAME' });
    expect(await s.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    await ping(b);
  });

  it('refuses client publishes to the channels the platform writes ($blocks.*, $objects.*), even in insecure mode', async () => {
    const b = await broker();
    const s = await socket(b.wsUrl);
    for (const channel of ['$blocks.deployed', '$objects.created']) {
      expect(await s.request({ type: 'publish', channel, data: null })).toMatchObject({ type: 'error', code: 'FORBIDDEN', channel });
      const res = await fetch(`${b.url}/v1/channels/${encodeURIComponent(channel)}/messages`, {
        method: 'POST',
        headers: JSON_TYPE,
        body: '{"data":null}',
      });
      expect(res.status).toBe(403);
      expect((await brokerContext(b).engine.state(channel)).last).toBe(0);
    }
  });
});

describe('a bug on one connection', () => {
  it('closes that connection with 1011, counted, and the broker serves everyone else', async () => {
    const b = await broker();
    const other = await socket(b.wsUrl);
    const victim = await socket(b.wsUrl);
    // Simulates a bug on the error path: the first error counted throws.
    const errors = brokerContext(b).prom.errors;
    const inc = errors.inc.bind(errors);
    let armed = true;
    errors.inc = ((...args: Parameters<typeof inc>) => {
      if (armed) {
        armed = false;
        throw new Error('simulated bug');
      }
      return inc(...args);
    }) as typeof errors.inc;
    victim.sendRaw('{"type":"nope"}');
    expect((await victim.closed).code).toBe(1011);
    const m = await brokerContext(b).prom.internalErrors.get();
    expect(m.values.find((v) => v.labels.where === 'session')?.value).toBe(1);
    expect(await other.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    await ping(b);
  });
});

describe('connections', () => {
  it('leaves no session behind for connections that close while their token is checked', async () => {
    const b = await broker({ auth: { secret: SECRET } });
    const token = await createToken({ secret: SECRET, grants: { a: ['subscribe'] } });
    const attempts = 300;
    await Promise.all(
      Array.from(
        { length: attempts },
        () =>
          new Promise<void>((resolve) => {
            const ws = new WebSocket(`${b.wsUrl}?token=${token}`);
            ws.on('error', () => resolve());
            ws.on('close', () => resolve());
            // Drop as soon as the upgrade is answered, while the broker is verifying the token.
            ws.on('upgrade', () => ws.terminate());
          }),
      ),
    );
    await eventually(() => brokerContext(b).sessions.size === 0, {
      message: () => `${brokerContext(b).sessions.size} ghost sessions left`,
    });
    // The limit is not eaten by ghosts: a new client still gets in.
    await ping(b, `?token=${token}`);
  });

  it('answers every frame sent before welcome, in token mode, exactly once and in order', async () => {
    const b = await broker({ auth: { secret: SECRET } });
    const token = await createToken({ secret: SECRET, grants: { early: ['publish', 'history'] } });
    const ws = new WebSocket(`${b.wsUrl}?token=${token}`);
    const frames: Array<{ type: string; id?: number }> = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as { type: string; id?: number }));
    await new Promise<void>((resolve) => ws.once('open', () => resolve()));
    // Sent in the same turn as 'open': the broker is still verifying the token.
    // More than the 256 frames a session buffers before it stops reading the socket.
    const n = 600;
    for (let i = 1; i <= n; i++) ws.send(JSON.stringify({ type: 'publish', id: i, channel: 'early', data: i }));
    await eventually(() => frames.filter((f) => f.type === 'ack').length === n, { message: () => `acks: ${frames.length} frames` });
    ws.close();
    expect(frames[0]?.type).toBe('welcome');
    expect(frames.slice(1).map((f) => f.id)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    const stored = await brokerContext(b).engine.read('early', { limit: 1000 });
    expect(stored.entries.map((e) => JSON.parse(e.payload))).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  });

  it('takes the Bearer scheme in any case (RFC 9110), on WebSocket and HTTP', async () => {
    const b = await broker({ auth: { secret: SECRET } });
    const lower = await connectWs(b.wsUrl, { headers: { authorization: `bearer ${SECRET}` } });
    expect(lower.frames[0]).toMatchObject({ type: 'welcome' });
    await lower.close();
    const res = await fetch(`${b.url}/v1/channels/a/messages`, { headers: { authorization: `BEARER ${SECRET}` } });
    expect(res.status).toBe(200);
  });

  it('shows the new subject in presence after an auth frame as another user', async () => {
    const b = await broker({ auth: { secret: SECRET } });
    const grants = { room: ['subscribe', 'presence'] } as const;
    const alice = await createToken({ secret: SECRET, sub: 'alice', grants });
    const bob = await createToken({ secret: SECRET, sub: 'bob', grants });
    const s = await socket(`${b.wsUrl}?token=${alice}`);
    await s.request({ type: 'subscribe', channel: 'room', presence: true });
    expect(await s.request({ type: 'auth', token: bob })).toMatchObject({ type: 'authed' });
    const r = await s.request({ type: 'presence', channel: 'room' });
    expect((r.members as Array<{ user?: string }>).map((m) => m.user)).toEqual(['bob']);
  });
});

describe('patterns', () => {
  it('refuses a distinct pattern past the node cap with LIMIT_EXCEEDED, and frees a slot on unsubscribe', async () => {
    const b = await broker({}, { maxPatterns: 2 });
    const s = await socket(b.wsUrl);
    const other = await socket(b.wsUrl);
    await s.request({ type: 'subscribe', channel: 'a.*' });
    await other.request({ type: 'subscribe', channel: 'b.>' });
    // The same pattern again shares the follow: not a new one.
    expect(await other.request({ type: 'subscribe', channel: 'a.*' })).toMatchObject({ type: 'subscribed' });
    expect(await s.request({ type: 'subscribe', channel: 'c.*' })).toMatchObject({ type: 'error', code: 'LIMIT_EXCEEDED', channel: 'c.*' });
    await other.request({ type: 'unsubscribe', channel: 'b.>' });
    expect(await s.request({ type: 'subscribe', channel: 'c.*' })).toMatchObject({ type: 'subscribed' });
  });
});

describe('grants', () => {
  it('a subscribe grant alone replays the retained log through since (history grant or not)', async () => {
    const b = await broker({ auth: { secret: SECRET } });
    const admin = await socket(`${b.wsUrl}?token=${SECRET}`);
    for (let i = 1; i <= 3; i++) await admin.request({ type: 'publish', channel: 'news', data: i });
    const token = await createToken({ secret: SECRET, grants: { news: ['subscribe'] } });
    const s = await socket(`${b.wsUrl}?token=${token}`);
    expect(await s.request({ type: 'history', channel: 'news' })).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    const { epoch } = await brokerContext(b).engine.state('news');
    expect(await s.request({ type: 'subscribe', channel: 'news', since: { offset: 0, epoch } })).toMatchObject({ recovered: true });
    await s.next((f) => f.type === 'message' && f.offset === 3);
    expect(s.frames.filter((f) => f.type === 'message').map((f) => f.data)).toEqual([1, 2, 3]);
  });
});

describe('every input is validated before the engine', () => {
  it.each(['%7Bx%7D', 'a.*', 'a%20b', 'a'.repeat(250), 'a..b'])(
    'HTTP history and presence refuse the channel %s with INVALID_CHANNEL',
    async (name) => {
      const b = await broker();
      for (const route of ['messages', 'presence']) {
        const res = await fetch(`${b.url}/v1/channels/${name}/${route}`);
        expect(res.status).toBe(400);
        expect(await res.json()).toMatchObject({ error: { code: 'INVALID_CHANNEL' } });
      }
    },
  );

  it('refuses offsets past 2^53 on every door with a typed error', async () => {
    const b = await broker();
    const res = await fetch(`${b.url}/v1/channels/a/messages?since=9007199254740993`);
    expect(res.status).toBe(400);
    const s = await socket(b.wsUrl);
    s.sendRaw('{"type":"history","id":1,"channel":"a","since":9007199254740993}');
    expect(await s.next((f) => f.id === 1)).toMatchObject({ type: 'error', code: 'INVALID_FRAME' });
    s.sendRaw('{"type":"subscribe","id":2,"channel":"a","since":{"offset":1e300,"epoch":"x"}}');
    expect(await s.next((f) => f.id === 2)).toMatchObject({ type: 'error', code: 'INVALID_FRAME' });
  });
});

describe('HTTP bodies', () => {
  /** Sends a head (and `body`) on a raw socket; resolves with what came back before the close. */
  function raw(b: Broker, head: string, body = ''): Promise<string> {
    return new Promise((resolve, reject) => {
      const c = connect(b.port, '127.0.0.1');
      let got = '';
      c.on('data', (d) => (got += d.toString()));
      c.on('error', (err) => (got === '' ? reject(err) : resolve(got)));
      c.on('close', () => resolve(got));
      c.write(head + body);
    });
  }

  it('answers a body declared over the limit with 413 and Connection: close before reading it', async () => {
    const b = await broker();
    const reply = await raw(
      b,
      `POST /v1/channels/a/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200000000\r\n\r\n`,
      '{"data":',
    );
    expect(reply).toMatch(/^HTTP\/1\.1 413/);
    expect(reply.toLowerCase()).toContain('connection: close');
    expect(reply).toContain('PAYLOAD_TOO_LARGE');
  });

  it('answers a chunked body with 413 as soon as it passes the limit', async () => {
    const b = await broker({ maxPayloadBytes: 1024 });
    const chunk = 'x'.repeat(4096);
    const head = `POST /v1/channels/a/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
    // One chunk past the limit and no terminating chunk: the reply cannot wait for the end.
    const reply = await raw(b, head, `${(4096).toString(16)}\r\n${chunk}\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 413/);
  });
});

describe('cross-site requests', () => {
  it('in insecure mode refuses foreign origins and non-loopback Host headers, and serves loopback pages', async () => {
    const b = await broker();
    const evil = new WebSocket(b.wsUrl, { headers: { origin: 'http://evil.example' } });
    const status = await new Promise<number>((resolve) => evil.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(403);
    const rebound = new WebSocket(b.wsUrl, { headers: { host: `evil.example:${b.port}` } });
    expect(await new Promise<number>((resolve) => rebound.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)))).toBe(
      403,
    );

    const deploy = await fetch(`${b.url}/v1/channels/a/messages`, {
      method: 'POST',
      headers: { ...JSON_TYPE, origin: 'http://evil.example' },
      body: '{"data":1}',
    });
    expect(deploy.status).toBe(403);
    expect(await deploy.json()).toMatchObject({ error: { code: 'FORBIDDEN_ORIGIN' } });
    const local = await fetch(`${b.url}/v1/channels/a/messages`, {
      method: 'POST',
      headers: { ...JSON_TYPE, origin: 'http://localhost:5173' },
      body: '{"data":1}',
    });
    expect(local.status).toBe(201);
    const page = await connectWs(b.wsUrl, { headers: { origin: `http://127.0.0.1:${b.port}` } });
    expect(page.frames[0]).toMatchObject({ type: 'welcome' });
    await page.close();
  });

  it('refuses state-changing JSON routes whose body is not declared application/json, in every mode', async () => {
    for (const b of [await broker(), await broker({ auth: { secret: SECRET } })]) {
      const auth = { authorization: `Bearer ${SECRET}` };
      for (const type of [undefined, 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
        const headers: Record<string, string> = { ...auth };
        if (type !== undefined) headers['content-type'] = type;
        const res = await fetch(`${b.url}/v1/channels/a/messages`, { method: 'POST', headers, body: '{"data":1}' });
        expect(res.status, String(type)).toBe(415);
        expect(await res.json()).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
      }
      expect((await brokerContext(b).engine.state('a')).last).toBe(0);
    }
  });

  it("allowedOrigins: '*' serves every origin; an entry that is not an origin is refused at start", async () => {
    const b = await broker({ auth: { secret: SECRET }, allowedOrigins: ['*'] });
    const any = await connectWs(`${b.wsUrl}?token=${SECRET}`, { headers: { origin: 'https://anything.example' } });
    expect(any.frames[0]).toMatchObject({ type: 'welcome' });
    await any.close();
    await expect(broker({ allowedOrigins: ['https://app.example.com/path'] })).rejects.toThrow(/allowedOrigins/);
  });

  it('in token mode refuses WebSockets from foreign origins unless allowedOrigins names them', async () => {
    const b = await broker({ auth: { secret: SECRET }, allowedOrigins: ['https://app.example.com'] });
    const evil = new WebSocket(`${b.wsUrl}?token=${SECRET}`, { headers: { origin: 'https://evil.example' } });
    expect(await new Promise<number>((resolve) => evil.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)))).toBe(403);
    const app = await connectWs(`${b.wsUrl}?token=${SECRET}`, { headers: { origin: 'https://app.example.com' } });
    expect(app.frames[0]).toMatchObject({ type: 'welcome' });
    await app.close();
  });
});
