import { describe, expect, it } from 'vitest';
import { broker, SECRET, socket } from './helpers.js';

describe('/metrics', () => {
  it('exposes connections, publishes, deliveries, fan-out latency and errors to admins only', async () => {
    const b = await broker({ auth: { secret: SECRET } });
    const s = await socket(`${b.wsUrl}?token=${SECRET}`);
    await s.request({ type: 'subscribe', channel: 'm' });
    for (let i = 0; i < 3; i++) await s.request({ type: 'publish', channel: 'm', data: i });
    await s.next((f) => f.type === 'message' && f.offset === 3);
    await s.request({ type: 'publish', channel: 'bad channel', data: 1 });
    await fetch(`${b.url}/v1/channels/m/messages`, {
      method: 'POST',
      body: '{"data":4}',
      headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
    });

    expect((await fetch(`${b.url}/metrics`)).status).toBe(401);
    const res = await fetch(`${b.url}/metrics`, { headers: { authorization: `Bearer ${SECRET}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^tributary_connections 1$/m);
    expect(text).toMatch(/^tributary_messages_published_total\{transport="ws"\} 3$/m);
    expect(text).toMatch(/^tributary_messages_published_total\{transport="http"\} 1$/m);
    expect(text).toMatch(/^tributary_messages_delivered_total [4-9]$/m);
    expect(text).toMatch(/^tributary_fanout_latency_seconds_count [4-9]$/m);
    expect(text).toMatch(/^tributary_request_errors_total\{code="INVALID_CHANNEL"\} 1$/m);
    expect(text).toMatch(/^tributary_engine_latency_seconds_count\{op="append"\} 4$/m);
    // Channel names never become labels.
    expect(text).not.toMatch(/channel="/);
  });
});
