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

  // Each of these exited the broker process: a recursive walker (JSON.stringify of the client's
  // `type` in the error message) overflowed the stack. JSON.parse itself builds any depth.
  it.each([
    ['type as 100,000 nested arrays', `{"type":${'['.repeat(100_000)}${']'.repeat(100_000)}}`],
    ['type as a 5,000-deep object chain', `{"type":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`],
    ['id nested 100,000 deep', `{"type":"ping","id":${'['.repeat(100_000)}${']'.repeat(100_000)}}`],
    ['since nested deep', `{"type":"subscribe","channel":"a","since":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`],
    ['data as a 100,000-deep object chain', `{"type":"publish","channel":"a","data":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`],
  ])('answers a frame with %s with one typed error, without recursing into it', (_name, text) => {
    const r = parseClientFrame(text);
    expect(r).toMatchObject({ ok: false, code: 'INVALID_FRAME' });
    // The reply itself must be serialisable.
    expect(() => JSON.stringify(r)).not.toThrow();
  });

  it('names a bad type briefly, never by serialising it whole', () => {
    const r = parseClientFrame(JSON.stringify({ type: 'x'.repeat(100_000) }));
    expect(r).toMatchObject({ ok: false, code: 'UNKNOWN_TYPE' });
    expect(r.ok ? '' : r.message.length).toBeLessThan(200);
    expect(parseClientFrame('{"type":{"a":1}}')).toMatchObject({ code: 'UNKNOWN_TYPE', message: 'unknown frame type (an object)' });
  });

  it('refuses offsets and ids a JS number cannot hold exactly (past 2^53)', () => {
    expect(parseClientFrame('{"type":"history","channel":"a","since":9007199254740993}')).toMatchObject({ code: 'INVALID_FRAME' });
    expect(parseClientFrame('{"type":"history","channel":"a","since":1e300}')).toMatchObject({ code: 'INVALID_FRAME' });
    expect(parseClientFrame('{"type":"subscribe","channel":"a","since":{"offset":9007199254740993,"epoch":"e"}}')).toMatchObject({
      code: 'INVALID_FRAME',
    });
    expect(parseClientFrame('{"type":"ping","id":1e300}')).toMatchObject({ code: 'INVALID_FRAME' });
    expect(parseClientFrame(`{"type":"history","channel":"a","since":${Number.MAX_SAFE_INTEGER}}`)).toMatchObject({ ok: true });
  });

  it('calls every bad channel name INVALID_CHANNEL, empty and over-long ones too (as HTTP does)', () => {
    for (const channel of ['', 'a'.repeat(201), 'a..b', 'a b', '{x}']) {
      for (const type of ['publish', 'subscribe', 'history', 'presence', 'unsubscribe']) {
        const frame = type === 'publish' ? { type, channel, data: 1 } : { type, channel };
        expect(parseClientFrame(JSON.stringify(frame)), `${type} ${channel.slice(0, 10)}`).toMatchObject({ code: 'INVALID_CHANNEL' });
      }
    }
  });
});
