import { describe, expect, it } from 'vitest';
import { eventually } from '../src/index.js';

/** A probe that answers `values` one call at a time (then the last one forever), counting calls. */
function sequence<T>(...values: T[]): { probe: () => T; calls: () => number } {
  let n = 0;
  return { probe: () => values[Math.min(n++, values.length - 1)] as T, calls: () => n };
}

/** The rejection of `p`, which must reject. */
async function rejection(p: Promise<unknown>): Promise<Error> {
  const outcome = await p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok) throw new Error(`expected a rejection, got ${String(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(Error);
  return outcome.error as Error;
}

describe('eventually', () => {
  it('returns the first truthy value, polling past the falsy ones', async () => {
    const { probe, calls } = sequence<unknown>(undefined, false, 0, '', null, { found: 1 });
    expect(await eventually(probe, { intervalMs: 1 })).toEqual({ found: 1 });
    expect(calls()).toBe(6);
  });

  it('awaits an async probe, and resolves at once when the first poll succeeds', async () => {
    let calls = 0;
    const started = Date.now();
    expect(await eventually(async () => ++calls === 1, { intervalMs: 1000 })).toBe(true);
    expect(calls).toBe(1);
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('polls at least once even with a zero timeout', async () => {
    expect(await eventually(() => 'ready', { timeoutMs: 0 })).toBe('ready');
  });

  it('fails after the timeout, naming what it waited for, the timeout and the last value', async () => {
    const started = Date.now();
    const { probe } = sequence<number[] | false>(false, false, false);
    const err = await rejection(eventually(probe, { message: 'three replies', timeoutMs: 60, intervalMs: 5 }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(60);
    expect(err.message).toBe('three replies: not met within 60 ms; last value: false');
  });

  it('tells the falsy values apart in the error', async () => {
    for (const [value, shown] of [
      [undefined, 'undefined'],
      [null, 'null'],
      [0, '0'],
      ['', "''"],
    ] as const) {
      const err = await rejection(eventually(() => value, { message: 'v', timeoutMs: 0 }));
      expect(err.message).toBe(`v: not met within 0 ms; last value: ${shown}`);
    }
  });

  it('calls a message function only when failing, so it reports the state at that moment', async () => {
    let got = 0;
    let asked = 0;
    const message = () => {
      asked++;
      return `5 entries (got ${got})`;
    };
    await eventually(() => ++got >= 2, { message, intervalMs: 1 });
    expect(asked).toBe(0);
    got = 0;
    const err = await rejection(eventually(() => ++got >= 1000, { message, timeoutMs: 30, intervalMs: 5 }));
    expect(asked).toBe(1);
    expect(err.message).toMatch(new RegExp(`^5 entries \\(got ${got}\\): not met within 30 ms`));
    expect(got).toBeGreaterThan(1);
  });

  it('names the probe by its source when given no message', async () => {
    const err = await rejection(eventually(() => 1 > 2, { timeoutMs: 0 }));
    expect(err.message).toBe('() => 1 > 2: not met within 0 ms; last value: false');
  });

  it('fails at once on an exception from the probe, by default', async () => {
    let calls = 0;
    const err = await rejection(
      eventually(() => {
        calls++;
        throw new Error('probe broke');
      }),
    );
    expect(err.message).toBe('probe broke');
    expect(calls).toBe(1);
  });

  it('with retryOnError, polls through exceptions and returns once the probe succeeds', async () => {
    let calls = 0;
    const value = await eventually(
      async () => {
        if (++calls < 3) throw new Error('ECONNREFUSED');
        return 'connected';
      },
      { retryOnError: true, intervalMs: 1 },
    );
    expect(value).toBe('connected');
    expect(calls).toBe(3);
  });

  it('with retryOnError, names the last exception on timeout and chains it as the cause', async () => {
    const last = new Error('ECONNREFUSED 127.0.0.1:1');
    const err = await rejection(
      eventually(
        () => {
          throw last;
        },
        { retryOnError: true, message: 'the server', timeoutMs: 20, intervalMs: 5 },
      ),
    );
    expect(err.message).toBe('the server: not met within 20 ms; last error: Error: ECONNREFUSED 127.0.0.1:1');
    expect(err.cause).toBe(last);
  });

  it('with retryOnError, shows a thrown non-Error compactly', async () => {
    const err = await rejection(
      eventually(
        () => {
          throw { reply: 'x'.repeat(10_000) };
        },
        { retryOnError: true, message: 'a reply', timeoutMs: 0 },
      ),
    );
    expect(err.message).toMatch(/^a reply: not met within 0 ms; last error: \{ reply: 'x{10,}'\.\.\. \d+ more characters \}$/);
    expect(err.message.length).toBeLessThan(400);
  });

  it('gives up before the timeout when failFast holds, with the reason it returns', async () => {
    let exited = false;
    setTimeout(() => (exited = true), 20);
    const started = Date.now();
    const err = await rejection(
      eventually(() => false, {
        message: 'the port to accept',
        timeoutMs: 10_000,
        intervalMs: 5,
        failFast: () => exited && 'the process exited with code 1',
      }),
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(err.message).toMatch(/^the port to accept: gave up after \d+ ms: the process exited with code 1; last value: false$/);
  });

  it('names a failFast that returns a bare true generically, and never consults it once the probe succeeds', async () => {
    const err = await rejection(eventually(() => false, { message: 'x', failFast: () => true }));
    expect(err.message).toMatch(/^x: gave up after \d+ ms: the failFast condition held; last value: false$/);
    let consulted = 0;
    expect(await eventually(() => true, { failFast: () => ++consulted > 0 })).toBe(true);
    expect(consulted).toBe(0);
  });

  it('rejects a bad option, naming it, before polling', async () => {
    let calls = 0;
    const probe = () => ++calls;
    await expect(eventually(probe, { timeoutMs: -1 })).rejects.toThrow(/timeoutMs must be a finite number ≥ 0, got -1/);
    await expect(eventually(probe, { intervalMs: Number.NaN })).rejects.toThrow(/intervalMs must be a finite number ≥ 0, got NaN/);
    expect(calls).toBe(0);
  });

  it('types a predicate as true and a finder as what it finds', async () => {
    const flag: true = await eventually(() => Math.random() < 2);
    const found: { id: number } = await eventually(() => [{ id: 1 }].find((x) => x.id === 1));
    expect([flag, found]).toEqual([true, { id: 1 }]);
  });
});
