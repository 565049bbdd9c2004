import { describe, expect, it } from 'vitest';
import { depthExceeds, parseClientFrame } from './schema.js';

describe('parseClientFrame', () => {
  it('accepts every well-formed frame type', () => {
    const frames = [
      { type: 'subscribe', id: 1, channel: 'a.*' },
      { type: 'subscribe', channel: 'a', since: { offset: 3, epoch: 'e' }, presence: true },
      { type: 'unsubscribe', id: 'x', channel: 'a' },
      { type: 'publish', channel: 'a', data: { n: 1 }, msgId: 'm1' },
      { type: 'publish', channel: 'a', data: null },
      { type: 'history', channel: 'a', since: 0, limit: 10 },
      { type: 'presence', channel: 'a' },
      { type: 'ping' },
      { type: 'auth', token: 't' },
    ];
    for (const f of frames) expect(parseClientFrame(JSON.stringify(f))).toEqual({ ok: true, frame: f });
  });

  it('types each kind of bad input and keeps the request id when it can', () => {
    expect(parseClientFrame('{nope')).toMatchObject({ ok: false, code: 'BAD_JSON' });
    expect(parseClientFrame('[1]')).toMatchObject({ ok: false, code: 'INVALID_FRAME' });
    expect(parseClientFrame('{"type":"fly","id":7}')).toMatchObject({ ok: false, code: 'UNKNOWN_TYPE', id: 7 });
    expect(parseClientFrame('{"type":"toString"}')).toMatchObject({ ok: false, code: 'UNKNOWN_TYPE' });
    expect(parseClientFrame('{"type":"publish","id":"r","channel":"a"}')).toMatchObject({
      ok: false,
      code: 'INVALID_FRAME',
      id: 'r',
    });
    expect(parseClientFrame('{"type":"publish","channel":"a","data":1,"extra":1}')).toMatchObject({
      code: 'INVALID_FRAME',
    });
    expect(parseClientFrame('{"type":"publish","channel":"a b","data":1}')).toMatchObject({ code: 'INVALID_CHANNEL' });
    expect(parseClientFrame('{"type":"publish","channel":"a.*","data":1}')).toMatchObject({ code: 'INVALID_CHANNEL' });
    expect(parseClientFrame('{"type":"history","channel":"a","limit":100000}')).toMatchObject({ code: 'INVALID_FRAME' });
  });

  it('refuses data nested past the limit without overflowing the stack', () => {
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    expect(parseClientFrame(`{"type":"publish","channel":"a","data":${deep}}`)).toMatchObject({
      ok: false,
      code: 'INVALID_FRAME',
    });
    expect(depthExceeds({ a: [{ b: 1 }] }, 3)).toBe(false);
    expect(depthExceeds({ a: [{ b: {} }] }, 3)).toBe(true);
  });
});
