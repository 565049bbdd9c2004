import { ErrorCodes, TributaryError } from '@tributary/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AppendInput, AppendResult } from '../types.js';
import { unavailable } from '../options.js';
import { Appender } from './appender.js';

/**
 * The Appender's queueing rules with a scripted SendBatch in place of the Redis script (the script
 * itself is tested against a real Redis in test/redis.int.test.ts): each call is recorded and
 * settled by the test, so "one batch in flight per channel" and the deadlines are observable.
 */
interface Call {
  channel: string;
  batch: readonly AppendInput[];
  resolve(results: Array<AppendResult | Error>): void;
  reject(err: unknown): void;
}

function harness(timeoutMs = 1000) {
  const calls: Call[] = [];
  let offset = 0;
  const appender = new Appender(
    (channel, batch) => new Promise((resolve, reject) => calls.push({ channel, batch, resolve, reject })),
    timeoutMs,
  );
  const ok = (call: Call): void => call.resolve(call.batch.map(() => ({ offset: ++offset, epoch: 'e', time: 1, duplicate: false })));
  return { appender, calls, ok };
}

const input = (channel: string, i: number): AppendInput => ({ channel, payload: String(i) });

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setImmediate', 'setTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Appender', () => {
  it('sends a turn’s appends of a channel as one batch, and at most one batch per channel at a time', async () => {
    const { appender, calls, ok } = harness();
    const first = Array.from({ length: 70 }, (_, i) => appender.append(input('a', i)));
    const other = appender.append(input('b', 0));
    await vi.advanceTimersByTimeAsync(0);
    expect(calls.map((c) => [c.channel, c.batch.length])).toEqual([
      ['a', 64],
      ['b', 1],
    ]);
    const later = appender.append(input('a', 70)); // queued behind the batch at "Redis"
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toHaveLength(2);
    ok(calls[0] as Call);
    await vi.advanceTimersByTimeAsync(0);
    expect(calls[2]?.batch.map((x) => x.payload)).toEqual(['64', '65', '66', '67', '68', '69', '70']);
    ok(calls[2] as Call);
    ok(calls[1] as Call);
    const offsets = (await Promise.all([...first, later])).map((r) => r.offset);
    // The scripted store numbers entries in the order it stores them: a's 71 in issue order, then b.
    expect(offsets).toEqual(Array.from({ length: 71 }, (_, i) => i + 1));
    expect((await other).offset).toBe(72);
  });

  it('fails only the entry the store refused', async () => {
    const { appender, calls } = harness();
    const all = [0, 1, 2].map((i) => appender.append(input('a', i)));
    await vi.advanceTimersByTimeAsync(0);
    calls[0]?.resolve([
      { offset: 1, epoch: 'e', time: 1, duplicate: false },
      new TributaryError(ErrorCodes.INTERNAL, 'append: Redis replied WRONGTYPE'),
      { offset: 2, epoch: 'e', time: 1, duplicate: false },
    ]);
    expect((await Promise.allSettled(all)).map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('when Redis does not answer, fails the batch and everything queued behind it, then serves new appends', async () => {
    const { appender, calls, ok } = harness();
    const sent = appender.append(input('a', 0));
    await vi.advanceTimersByTimeAsync(0);
    const queued = appender.append(input('a', 1));
    calls[0]?.reject(unavailable('append: no answer from Redis within 1000 ms'));
    await expect(sent).rejects.toMatchObject({ code: ErrorCodes.UNAVAILABLE });
    await expect(queued).rejects.toMatchObject({ code: ErrorCodes.UNAVAILABLE });
    const next = appender.append(input('a', 2));
    await vi.advanceTimersByTimeAsync(0);
    ok(calls[1] as Call);
    expect((await next).offset).toBe(1);
  });

  it('fails appends that waited a whole timeout behind a slow batch, and sends the younger ones', async () => {
    const { appender, calls, ok } = harness(1000);
    void appender.append(input('a', 0));
    await vi.advanceTimersByTimeAsync(0);
    const old = appender.append(input('a', 1));
    await vi.advanceTimersByTimeAsync(600);
    const young = appender.append(input('a', 2));
    await vi.advanceTimersByTimeAsync(500); // old has waited 1100 ms, young 500 ms
    ok(calls[0] as Call);
    await expect(old).rejects.toMatchObject({ code: ErrorCodes.UNAVAILABLE });
    await vi.advanceTimersByTimeAsync(0);
    expect(calls[1]?.batch.map((x) => x.payload)).toEqual(['2']);
    ok(calls[1] as Call);
    expect((await young).offset).toBe(2);
  });

  it('rejects unsent appends with CLOSED on close', async () => {
    const { appender } = harness();
    const waiting = appender.append(input('a', 0));
    appender.close();
    await expect(waiting).rejects.toMatchObject({ code: ErrorCodes.CLOSED });
    await expect(appender.append(input('a', 1))).rejects.toMatchObject({ code: ErrorCodes.CLOSED });
  });
});
