import { describe, expect, it } from 'vitest';
import { broker, socket } from './helpers.js';

describe('bad input', () => {
  it('answers each kind of bad frame with a typed error, stores nothing, and keeps every connection serving', async () => {
    const b = await broker({ maxPayloadBytes: 1024 });
    const bad = await socket(b.wsUrl);
    const bystander = await socket(b.wsUrl);
    await bystander.request({ type: 'subscribe', channel: 'ok' });

    bad.sendRaw('{"type":"publish","channel":"ok","data":');
    expect(await bad.next((f) => f.type === 'error')).toMatchObject({ code: 'BAD_JSON' });
    expect(await bad.request({ type: 'teleport' })).toMatchObject({ code: 'UNKNOWN_TYPE' });
    expect(await bad.request({ type: 'publish', channel: 'ok' })).toMatchObject({ code: 'INVALID_FRAME' });
    expect(await bad.request({ type: 'publish', channel: 'no spaces', data: 1 })).toMatchObject({ code: 'INVALID_CHANNEL' });
    expect(await bad.request({ type: 'subscribe', channel: 'a..b' })).toMatchObject({ code: 'INVALID_CHANNEL' });
    expect(await bad.request({ type: 'publish', channel: 'ok', data: 'x'.repeat(2000) })).toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      channel: 'ok',
    });
    bad.sendRaw(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    expect(await bad.next((f) => f.type === 'error' && f.message === 'frame is not valid UTF-8')).toMatchObject({
      code: 'BAD_JSON',
    });
    bad.sendRaw(Buffer.from('{"type":"ping"}'), true);
    expect(await bad.next((f) => f.type === 'error' && f.code === 'INVALID_FRAME')).toBeDefined();
    const deep = '['.repeat(100) + ']'.repeat(100);
    bad.sendRaw(`{"type":"publish","id":"deep","channel":"ok","data":${deep}}`);
    expect(await bad.next((f) => f.id === 'deep')).toMatchObject({ code: 'INVALID_FRAME' });

    // The same connection still works, nothing bad was stored, and the bystander saw only good data.
    expect(await bad.request({ type: 'publish', channel: 'ok', data: 'good' })).toMatchObject({ type: 'ack', offset: 1 });
    const m = await bystander.next((f) => f.type === 'message');
    expect(m).toMatchObject({ offset: 1, data: 'good' });
    const h = await bystander.request({ type: 'history', channel: 'ok' });
    expect(h.messages).toHaveLength(1);
  });

  it('closes with 1009 only for frames over the hard frame cap, and others keep serving', async () => {
    const b = await broker({ maxPayloadBytes: 1024 });
    const huge = await socket(b.wsUrl);
    const other = await socket(b.wsUrl);
    huge.sendRaw(`{"type":"publish","channel":"x","data":"${'y'.repeat(10_000)}"}`);
    expect((await huge.closed).code).toBe(1009);
    expect(await other.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
  });
});
