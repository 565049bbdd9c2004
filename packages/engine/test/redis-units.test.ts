import { describe, expect, it } from 'vitest';
import { resolveRedisEngineOptions, DEFAULT_KEY_PREFIX } from '../src/redis/index.js';
import type { Entry, ReadResult } from '../src/index.js';
import { Cursor } from '../src/redis/cursor.js';
import { decodeNotification } from '../src/redis/codec.js';
import { ALL_FEED, feedOf, serverFeedTopic } from '../src/redis/keys.js';
import { toEngineError } from '../src/redis/errors.js';
import { isTributaryError } from '@tributary/protocol';

describe('resolveRedisEngineOptions', () => {
  it('fills defaults and keeps the epoch (meta) longer than the data', () => {
    const o = resolveRedisEngineOptions({ retention: { maxAgeMs: 1000 } });
    expect(o).toMatchObject({ keyPrefix: DEFAULT_KEY_PREFIX, url: 'redis://127.0.0.1:6379', metaTtlMs: 2000 });
  });
  it.each([
    [{ keyPrefix: 'a{b}' }, /keyPrefix/],
    [{ url: 'http://x' }, /url/],
    [{ cluster: { nodes: [] } }, /cluster.nodes/],
    [{ cluster: { nodes: [{ host: 'h', port: 0 }] } }, /cluster.nodes\[0\].port/],
    [{ commandTimeoutMs: -1 }, /commandTimeoutMs/],
    [{ retention: { maxLength: 0 } }, /retention.maxLength/],
    [{ maxPatterns: 0 }, /maxPatterns/],
    [{ onListenerError: 'log' }, /onListenerError/],
  ])('names the bad field: %j', (opts, field) => {
    expect(() => resolveRedisEngineOptions(opts as never)).toThrow(field);
  });
});

describe('keys and notifications', () => {
  it('gives a pattern the feed of its first segment, or of all channels when it starts with a wildcard', () => {
    expect(feedOf('sensors.*.temp')).toBe('sensors');
    expect(feedOf('sensors')).toBe('sensors');
    expect(feedOf('*.temp')).toBe(ALL_FEED);
    expect(feedOf('>')).toBe(ALL_FEED);
    expect(serverFeedTopic('app:', 'sensors')).toBe('app:f:sensors');
  });
  it('decodes a notification without touching the payload', () => {
    const raw = `${JSON.stringify({ e: 'E', o: '7', t: '1700000000000', i: 'id', h: '2' })}\n{"a":\n"ü"}`;
    expect(decodeNotification('c', raw)).toEqual({
      channel: 'c',
      offset: 7,
      epoch: 'E',
      time: 1700000000000,
      payload: '{"a":\n"ü"}',
      msgId: 'id',
      hops: 2,
    });
    expect(decodeNotification('c', 'no header')).toBeUndefined();
  });
  it('reads the common header without JSON.parse exactly as JSON.parse reads it, and falls back for any other', () => {
    const viaJson = (h: string): unknown => {
      const o = JSON.parse(h) as Record<string, string>;
      const e: Record<string, unknown> = { channel: 'c', offset: Number(o.o), epoch: o.e, time: Number(o.t), payload: 'P' };
      if (o.i !== undefined) e.msgId = o.i;
      if (o.h !== undefined) e.hops = Number(o.h);
      if (o.m !== undefined) e.meta = o.m;
      return e;
    };
    for (const h of [
      '{"e":"ab12cd34ef","o":"1","t":"1700000000000"}',
      '{"e":"x_-Y9","o":"123456789","t":"0"}',
      '{"e":"","o":"5","t":"7"}',
      '{"e":"E","o":"7","t":"1","i":"id"}',
      '{"e":"E","o":"7","t":"1","h":"2","m":"{\\"lineage\\":1}"}',
      '{"e":"a\\"b","o":"7","t":"1"}',
      '{"e":"a\\u0041","o":"7","t":"1"}',
    ]) {
      expect(decodeNotification('c', `${h}\nP`)).toEqual(viaJson(h));
    }
    // Not the common shape: read as JSON, as before (a missing or non-digit number, a cut header).
    for (const h of ['{"e":"E","o":"","t":"1"}', '{"e":"E","o":"x","t":"1"}', '{"e":"E","o":"12","t":"1","x":1}']) {
      expect(decodeNotification('c', `${h}\nP`)).toEqual(viaJson(h));
    }
    expect(decodeNotification('c', '{"e":"E","o":"1","t":"2"\nP')).toBeUndefined();
  });
  it('maps connection errors to UNAVAILABLE and script errors to INTERNAL', () => {
    expect(isTributaryError(toEngineError(new Error('Connection is closed.'), 'x'), 'UNAVAILABLE')).toBe(true);
    const reply = Object.assign(new Error('ERR user_script:1: bad'), { name: 'ReplyError' });
    expect(isTributaryError(toEngineError(reply, 'x'), 'INTERNAL')).toBe(true);
    const loading = Object.assign(new Error('LOADING Redis is loading'), { name: 'ReplyError' });
    expect(isTributaryError(toEngineError(loading, 'x'), 'UNAVAILABLE')).toBe(true);
  });
});

/** A log the cursor reads from: pure data, so the ordering logic is tested on its own. */
function log(epoch: string, count: number): { epoch: string; entries: Entry[] } {
  const entries = Array.from({ length: count }, (_, i) => ({ channel: 'c', epoch, offset: i + 1, time: 1, payload: String(i + 1) }));
  return { epoch, entries };
}

describe('Cursor', () => {
  const make = (store: { epoch: string; entries: Entry[] }) => {
    const got: Array<[string, number]> = [];
    const read = async (after: number): Promise<ReadResult> => {
      const last = store.entries.at(-1)?.offset ?? 0;
      return { epoch: store.epoch, first: 1, last, entries: store.entries.filter((e) => e.offset > after).slice(0, 2) };
    };
    return { got, cursor: new Cursor(read, (e) => got.push([e.epoch, e.offset])) };
  };
  const settle = () => new Promise((r) => setTimeout(r, 5));

  it('fills a gap from the log (paging) and drops duplicates', async () => {
    const store = log('A', 6);
    const { got, cursor } = make(store);
    cursor.start('A', 1);
    cursor.push(store.entries[5] as Entry); // 6: 2..5 are missing
    cursor.push(store.entries[3] as Entry); // 4: arrives late, must not repeat
    await settle();
    expect(got).toEqual([
      ['A', 2],
      ['A', 3],
      ['A', 4],
      ['A', 5],
      ['A', 6],
    ]);
  });

  it('ignores a late notification from an epoch the log has left behind', async () => {
    const store = log('B', 1);
    const { got, cursor } = make(store);
    cursor.start('B', 0);
    cursor.push({ channel: 'c', epoch: 'A', offset: 9, time: 1, payload: 'stale' });
    await settle();
    cursor.push({ channel: 'c', epoch: 'A', offset: 10, time: 1, payload: 'stale' });
    cursor.push(store.entries[0] as Entry);
    await settle();
    expect(got).toEqual([['B', 1]]);
  });

  it('moves to a new epoch when the log confirms it, from offset 1', async () => {
    const store = log('A', 2);
    const { got, cursor } = make(store);
    cursor.start('A', 2);
    Object.assign(store, log('B', 2));
    cursor.push(store.entries[1] as Entry);
    await settle();
    expect(got).toEqual([
      ['B', 1],
      ['B', 2],
    ]);
  });
});
