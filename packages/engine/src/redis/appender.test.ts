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
  /** Hands the batch to the "connection" (the engine does so right after any lookup it needs first). */
  written(): void;
}

function harness(timeoutMs = 1000, { writeAtOnce = true } = {}) {
  const calls: Call[] = [];
  let offset = 0;
  const appender = new Appender(
    (channel, batch, written) =>
      new Promise((resolve, reject) => {
        calls.push({ channel, batch, resolve, reject, written });
        if (writeAtOnce) written();
      }),
    timeoutMs,
  );
  const ok = (call: Call): void => call.resolve(call.batch.map(() => ({ offset: ++offset, epoch: 'e', time: 1, duplicate: false })));
  return { appender, calls, ok };
}

const input = (channel: string, i: number, orderKey?: string): AppendInput =>
  orderKey === undefined ? { channel, payload: String(i) } : { channel, payload: String(i), orderKey };
const sent = (calls: Call[]) => calls.map((c) => `${c.channel}:${c.batch.map((x) => x.payload).join(',')}`);

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

  it('pipelines one order key across channels: the next is written as soon as the one before it is', async () => {
    const { appender, calls, ok } = harness();
    const a = appender.append(input('a', 1, 'conn'));
    const b = appender.append(input('b', 1, 'conn'));
    const c = appender.append(input('c', 1, 'conn'));
    await vi.advanceTimersByTimeAsync(0);
    // All three at "Redis" at once, none stored yet: one round trip for the three, in issue order.
    expect(sent(calls)).toEqual(['a:1', 'b:1', 'c:1']);
    for (const call of calls) ok(call);
    expect((await Promise.all([a, b, c])).map((r) => r.offset)).toEqual([1, 2, 3]);
  });

  it('holds an order key’s append behind its predecessor waiting on a busy channel; other keys go by', async () => {
    const { appender, calls, ok } = harness();
    const busy = appender.append(input('a', 0, 'other-conn'));
    await vi.advanceTimersByTimeAsync(0);
    expect(sent(calls)).toEqual(['a:0']);
    // conn's a:1 queues behind the batch at Redis; its b:1, issued after, must not overtake it.
    const a1 = appender.append(input('a', 1, 'conn'));
    const b1 = appender.append(input('b', 1, 'conn'));
    const bx = appender.append(input('b', 9, 'third-conn'));
    const b2 = appender.append(input('b', 2, 'conn'));
    await vi.advanceTimersByTimeAsync(0);
    expect(sent(calls)).toEqual(['a:0', 'b:9']);
    ok(calls[0] as Call);
    await vi.advanceTimersByTimeAsync(0);
    expect(sent(calls)).toEqual(['a:0', 'b:9', 'a:1']);
    ok(calls[1] as Call);
    await vi.advanceTimersByTimeAsync(0);
    // b:1 and b:2 together, after a:1 was written (b's lane was free again by then).
    expect(sent(calls)).toEqual(['a:0', 'b:9', 'a:1', 'b:1,2']);
    ok(calls[2] as Call);
    ok(calls[3] as Call);
    const offsets = await Promise.all([busy, bx, a1, b1, b2]);
    expect(offsets.map((r) => r.offset)).toEqual([1, 2, 3, 4, 5]);
  });

  it('waits for the write, not the send: a lookup before the command keeps the next one held', async () => {
    const { appender, calls, ok } = harness(1000, { writeAtOnce: false });
    const a = appender.append(input('a', 1, 'conn'));
    const b = appender.append(input('b', 1, 'conn'));
    await vi.advanceTimersByTimeAsync(0);
    expect(sent(calls)).toEqual(['a:1']);
    calls[0]?.written();
    await vi.advanceTimersByTimeAsync(0);
    expect(sent(calls)).toEqual(['a:1', 'b:1']);
    calls[1]?.written();
    ok(calls[0] as Call);
    ok(calls[1] as Call);
    expect((await Promise.all([a, b])).map((r) => r.offset)).toEqual([1, 2]);
  });

  it('fails the later appends of a key, unwritten, when one before them fails unwritten', async () => {
    const { appender, calls, ok } = harness();
    const busy = appender.append(input('a', 0, 'other-conn'));
    await vi.advanceTimersByTimeAsync(0);
    const a1 = appender.append(input('a', 1, 'conn'));
    const b1 = appender.append(input('b', 1, 'conn'));
    const c1 = appender.append(input('c', 1, 'conn'));
    const elsewhere = appender.append(input('c', 7, 'third-conn'));
    await vi.advanceTimersByTimeAsync(0);
    const down = unavailable('append: Redis not reachable');
    calls[0]?.reject(down);
    await expect(busy).rejects.toBe(down);
    // a:1 waited behind the failed batch; b:1 and c:1 came after it on the same connection.
    for (const p of [a1, b1, c1]) await expect(p).rejects.toBe(down);
    await vi.advanceTimersByTimeAsync(0);
    expect(sent(calls)).toEqual(['a:0', 'c:7']);
    ok(calls[1] as Call);
    expect((await elsewhere).offset).toBe(1);
    // The key starts afresh: its next appends are not held behind the failed ones.
    const next = appender.append(input('b', 2, 'conn'));
    await vi.advanceTimersByTimeAsync(0);
    expect(sent(calls)).toEqual(['a:0', 'c:7', 'b:2']);
    ok(calls[2] as Call);
    expect((await next).offset).toBe(2);
  });

  it('rejects unsent appends with CLOSED on close', async () => {
    const { appender } = harness();
    const waiting = appender.append(input('a', 0));
    appender.close();
    await expect(waiting).rejects.toMatchObject({ code: ErrorCodes.CLOSED });
    await expect(appender.append(input('a', 1))).rejects.toMatchObject({ code: ErrorCodes.CLOSED });
  });
});
