import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope, formatTraceparent, isTraceparent, parseTraceparent, type TraceIds } from './lineage.js';
import { parseClientFrame } from './schema.js';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('envelope codec', () => {
  it('round-trips lineage and traceparent, and stores nothing for an empty envelope', () => {
    const lineage = { channel: 'sensors.d1', offset: 7, epoch: 'Xy', block: 'avg', version: 'v1' };
    expect(decodeEnvelope(encodeEnvelope({ lineage, traceparent: TP }))).toEqual({ lineage, traceparent: TP });
    expect(decodeEnvelope(encodeEnvelope({ traceparent: TP }))).toEqual({ traceparent: TP });
    expect(encodeEnvelope({})).toBe('');
    expect(decodeEnvelope(undefined)).toEqual({});
  });

  it('reads text that is not an envelope as empty instead of failing', () => {
    expect(decodeEnvelope('not json')).toEqual({});
    expect(decodeEnvelope('{"c":1,"t":"nope"}')).toEqual({});
  });

  it('accepts W3C traceparents only', () => {
    expect(isTraceparent(TP)).toBe(true);
    expect(isTraceparent(TP.toUpperCase())).toBe(false);
    expect(isTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBe(false);
    expect(isTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01')).toBe(false);
    expect(isTraceparent('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toBe(false);
  });

  it('reads and writes the ids of a traceparent', () => {
    expect(parseTraceparent(TP)).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 });
    expect(formatTraceparent(parseTraceparent(TP) as TraceIds)).toBe(TP);
    expect(parseTraceparent('00-x')).toBeUndefined();
  });

  it('takes a traceparent on a publish frame and refuses a malformed one', () => {
    const ok = parseClientFrame(JSON.stringify({ type: 'publish', channel: 'a', data: 1, traceparent: TP }));
    expect(ok).toMatchObject({ ok: true, frame: { traceparent: TP } });
    const bad = parseClientFrame(JSON.stringify({ type: 'publish', id: 1, channel: 'a', data: 1, traceparent: '00-zz' }));
    expect(bad).toMatchObject({ ok: false, code: 'INVALID_FRAME' });
    const zero = parseClientFrame(
      JSON.stringify({ type: 'publish', channel: 'a', data: 1, traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' }),
    );
    expect(zero).toMatchObject({ ok: false, code: 'INVALID_FRAME' });
  });
});
