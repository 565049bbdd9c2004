import { describe, expect, it } from 'vitest';
import { createToken } from '../src/index.js';
import { broker, SECRET, socket } from './helpers.js';

const JSON_TYPE = { 'content-type': 'application/json' };

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field in the tests.
async function call(url: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.json() };
}

describe('HTTP API', () => {
  it('publishes with POST, reads with GET, and WebSocket subscribers see the message', async () => {
    const b = await broker();
    const s = await socket(b.wsUrl);
    await s.request({ type: 'subscribe', channel: 'iot.d1' });
    const post = (data: unknown, msgId?: string) =>
      call(`${b.url}/v1/channels/iot.d1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(msgId === undefined ? { data } : { data, msgId }),
      });
    expect(await post({ celsius: 21.5 }, 'r1')).toMatchObject({ status: 201, body: { offset: 1, duplicate: false } });
    expect(await post({ celsius: 21.5 }, 'r1')).toMatchObject({ status: 200, body: { offset: 1, duplicate: true } });
    expect(await s.next((f) => f.type === 'message')).toMatchObject({ channel: 'iot.d1', offset: 1, data: { celsius: 21.5 } });
    await post(2);
    await post(3);
    const h = await call(`${b.url}/v1/channels/iot.d1/messages?since=1&limit=1`);
    expect(h).toMatchObject({ status: 200, body: { first: 1, last: 3, messages: [{ offset: 2, data: 2 }] } });
    expect(await call(`${b.url}/healthz`)).toMatchObject({ status: 200, body: { ok: true, engine: 'memory', connections: 1 } });
  });

  it('answers bad requests with typed errors and the right status', async () => {
    const b = await broker({ maxPayloadBytes: 100 });
    const post = (path: string, body: string) => call(`${b.url}${path}`, { method: 'POST', body, headers: JSON_TYPE });
    expect(await post('/v1/channels/a/messages', '{"data":')).toMatchObject({ status: 400, body: { error: { code: 'BAD_JSON' } } });
    expect(await post('/v1/channels/a/messages', '{"x":1}')).toMatchObject({ status: 400, body: { error: { code: 'INVALID_FRAME' } } });
    expect(await post('/v1/channels/a..b/messages', '{"data":1}')).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_CHANNEL' } },
    });
    expect(await post('/v1/channels/a/messages', JSON.stringify({ data: 'x'.repeat(500) }))).toMatchObject({
      status: 413,
      body: { error: { code: 'PAYLOAD_TOO_LARGE' } },
    });
    expect(await post('/v1/channels/a/messages', JSON.stringify({ data: 'x'.repeat(50_000) }))).toMatchObject({
      status: 413,
    });
    expect(await call(`${b.url}/v1/channels/a/messages?limit=abc`)).toMatchObject({ status: 400 });
    expect(await post('/v1/channels/%E0%A4%A/messages', '{"data":1}')).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_CHANNEL' } },
    });
    expect(await call(`${b.url}/v1/channels/%ZZ/messages`)).toMatchObject({ status: 400, body: { error: { code: 'INVALID_CHANNEL' } } });
    expect(await call(`${b.url}/nope`)).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    expect(await call(`${b.url}/v1/channels/a/messages`)).toMatchObject({ status: 200, body: { last: 0, messages: [] } });
  });

  it('requires credentials: the server secret or a token with the grant', async () => {
    const b = await broker({ auth: { secret: SECRET } });
    const url = `${b.url}/v1/channels/alerts/messages`;
    const body = JSON.stringify({ data: 'hi' });
    expect(await call(url, { method: 'POST', body })).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } });
    expect(await call(url, { method: 'POST', body, headers: { authorization: 'Bearer wrong' } })).toMatchObject({ status: 401 });
    expect(await call(url, { method: 'POST', body, headers: { authorization: `Bearer ${SECRET}`, ...JSON_TYPE } })).toMatchObject({
      status: 201,
    });
    const readOnly = await createToken({ secret: SECRET, grants: { alerts: ['history'] } });
    const auth = { authorization: `Bearer ${readOnly}` };
    expect(await call(url, { method: 'POST', body, headers: { ...auth, ...JSON_TYPE } })).toMatchObject({
      status: 403,
      body: { error: { code: 'FORBIDDEN' } },
    });
    expect(await call(url, { headers: auth })).toMatchObject({ status: 200, body: { last: 1 } });
    expect(await call(`${b.url}/v1/channels/alerts/presence`, { headers: auth })).toMatchObject({ status: 403 });
  });
});
