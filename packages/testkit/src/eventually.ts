import { inspect } from 'node:util';

// One bounded wait for the whole repo (issue #20): tests wait for a state, never for a fixed sleep,
// and a wait that times out says what it waited for and what it saw last, so a red CI run can be
// read without re-running it.

/** The values `eventually` reads as "not yet". */
export type Falsy = false | 0 | '' | null | undefined;

/** How long {@link eventually} polls before it fails, in milliseconds. */
export const DEFAULT_EVENTUALLY_TIMEOUT_MS = 5000;
/** The pause between two polls of {@link eventually}, in milliseconds. */
export const DEFAULT_EVENTUALLY_INTERVAL_MS = 10;

/** Options of {@link eventually}. */
export interface EventuallyOptions {
  /**
   * How long to keep polling. `fn` is always called at least once; the wait fails at the first
   * unsuccessful poll that ends past the deadline (a poll in flight is not cut short).
   * @defaultValue {@link DEFAULT_EVENTUALLY_TIMEOUT_MS} (5000)
   */
  timeoutMs?: number | undefined;
  /**
   * The pause between the end of one poll and the start of the next.
   * @defaultValue {@link DEFAULT_EVENTUALLY_INTERVAL_MS} (10)
   */
  intervalMs?: number | undefined;
  /**
   * What is awaited, for the error. A function is called only when the wait fails, so it can
   * report the state at that moment (`() => \`${got.length} of ${n} replies\``).
   * @defaultValue the source text of `fn`
   */
  message?: string | (() => string) | undefined;
  /**
   * Checked after every poll that did not succeed: when it returns a truthy value, the wait fails
   * at once instead of running out the clock — for a state that can no longer come (the process
   * that was to listen has exited). A string it returns is named in the error as the reason.
   */
  failFast?: (() => unknown) | undefined;
  /**
   * Reads an exception thrown by `fn` as "not yet" and polls on; if time runs out, the last one is
   * named in the error and is its `cause`. Off by default: a probe that throws is usually a broken
   * test, and it fails at once.
   * @defaultValue false
   */
  retryOnError?: boolean | undefined;
}

interface ResolvedEventuallyOptions {
  timeoutMs: number;
  intervalMs: number;
  failFast: (() => unknown) | undefined;
  retryOnError: boolean;
}

/** Validates the options at the boundary and fills in the defaults; a bad value names its field. */
function resolveEventuallyOptions(options: EventuallyOptions = {}): ResolvedEventuallyOptions {
  const timeoutMs = options.timeoutMs ?? DEFAULT_EVENTUALLY_TIMEOUT_MS;
  const intervalMs = options.intervalMs ?? DEFAULT_EVENTUALLY_INTERVAL_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0)
    throw new TypeError(`eventually: timeoutMs must be a finite number ≥ 0, got ${String(timeoutMs)}`);
  if (!Number.isFinite(intervalMs) || intervalMs < 0)
    throw new TypeError(`eventually: intervalMs must be a finite number ≥ 0, got ${String(intervalMs)}`);
  return { timeoutMs, intervalMs, failFast: options.failFast, retryOnError: options.retryOnError ?? false };
}

/**
 * Polls `fn` until it returns (or resolves to) a truthy value, and returns that value; a falsy one
 * (`false`, `0`, `''`, `null`, `undefined`) means "not yet". A predicate waits for a state
 * (`await eventually(() => got.length >= 5)`); a finder waits for a thing and hands it over
 * (`const reply = await eventually(() => inbox.find(isReply), { message: 'the reply' })`).
 *
 * Fails with an `Error` naming what was awaited (`message`), the timeout, and the last value `fn`
 * returned (or the last exception, with `retryOnError`). An exception from `fn` fails the wait at
 * once unless `retryOnError` is set.
 *
 * @example
 * await eventually(() => client.state === 'connected', { message: 'reconnected', timeoutMs: 10_000 });
 */
export async function eventually<T>(fn: () => T | Falsy | Promise<T | Falsy>, options: EventuallyOptions = {}): Promise<T> {
  const { timeoutMs, intervalMs, failFast, retryOnError } = resolveEventuallyOptions(options);
  const started = Date.now();
  const deadline = started + timeoutMs;
  let last: { value: unknown } | { error: unknown } = { value: undefined };
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as T;
      last = { value };
    } catch (error) {
      if (!retryOnError) throw error;
      last = { error };
    }
    if (Date.now() > deadline) throw failure(fn, options.message, `not met within ${timeoutMs} ms`, last);
    const reason = failFast === undefined ? undefined : await failFast();
    if (reason) {
      const why = typeof reason === 'string' ? reason : 'the failFast condition held';
      throw failure(fn, options.message, `gave up after ${Date.now() - started} ms: ${why}`, last);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function failure(
  fn: () => unknown,
  message: EventuallyOptions['message'],
  outcome: string,
  last: { value: unknown } | { error: unknown },
): Error {
  const what = typeof message === 'function' ? message() : (message ?? sourceOf(fn));
  if ('error' in last) return new Error(`${what}: ${outcome}; last error: ${show(last.error)}`, { cause: last.error });
  return new Error(`${what}: ${outcome}; last value: ${show(last.value)}`);
}

/** The probe's source on one line, for a wait that was not given a message. */
function sourceOf(fn: () => unknown): string {
  const text = String(fn).replace(/\s+/g, ' ').trim();
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** A value short enough for an error message (a probe may throw anything, an HTTP body included). */
function show(value: unknown): string {
  const text =
    value instanceof Error
      ? String(value)
      : inspect(value, { depth: 2, breakLength: Number.POSITIVE_INFINITY, maxArrayLength: 10, maxStringLength: 200 });
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}
