import { TributaryError } from '@tributary/protocol';
import { describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { type BlockError, LOG_LIMITS, MAX_REQUEST_RESULT_CHARS, MAX_RESULT_CHARS, type RunnerOptions } from '../src/index.js';
import { copiedOut } from '../src/sandbox.js';
import { deployFixture, echoStillWorks, payloads, requestBody, requestFailure, runner } from './helpers.js';

/**
 * What a block hands back to the host — log lines and results — is bounded inside its isolate,
 * before anything is copied out: one fixture per flood. Each test reads the largest text that crossed
 * from an isolate to the host (the sandbox records it), so "never copied" is checked, not assumed.
 */
function watchCopies(): void {
  copiedOut.largest = 0;
}
const largest = (): number => copiedOut.largest;

async function setup(fixture: string, options: Partial<RunnerOptions> = {}) {
  const { runner: r, engine } = runner(options);
  await deployFixture(r, 'echo.ts');
  const info = await deployFixture(r, `hostile/${fixture}`);
  return { r, engine, name: info.name };
}

type Line = { level: string; message: string; fields?: unknown };

describe('hostile blocks: log floods', () => {
  it('cuts 20 MB log lines inside the isolate, keeps an invocation to its line and byte budget, and says what it dropped', async () => {
    const { r, engine, name } = await setup('log-flood.ts');
    watchCopies();
    expect(await requestBody(r, name, { mode: 'huge' })).toEqual({ done: true });
    // Ten 20 MB lines were written; what crossed to the host is within one invocation's budget.
    expect(largest()).toBeLessThan(LOG_LIMITS.charsPerInvocation * 2);
    const lines = await eventually(async () => {
      const got = (await payloads(engine, `$logs.${name}`)) as Line[];
      return got.some((l) => /lines? dropped/.test(l.message)) ? got : undefined;
    });
    let chars = 0;
    for (const l of lines.slice(0, -1)) {
      expect(l.message.length).toBeLessThanOrEqual(LOG_LIMITS.lineChars + 40);
      if (l.message.startsWith('xxx')) expect(l.message).toMatch(/…\[cut: 20000000 chars\]$/);
      if (l.fields !== undefined) expect(typeof l.fields === 'string' ? l.fields.length : 0).toBeLessThanOrEqual(LOG_LIMITS.lineChars + 40);
      chars += l.message.length + (typeof l.fields === 'string' ? l.fields.length : 0);
    }
    expect(chars).toBeLessThanOrEqual(LOG_LIMITS.charsPerInvocation + 10 * 40);
    const summary = lines[lines.length - 1] as Line;
    expect(summary).toMatchObject({ level: 'warn', fields: { reason: 'invocation' } });
    const dropped = (summary.fields as { dropped: number }).dropped;
    expect(dropped + lines.length - 1).toBe(10);
    expect(r.list().find((b) => b.name === name)?.stats.logLinesDropped).toBe(dropped);
    await echoStillWorks(engine);
  });

  it('keeps 100 of 10,000 lines of one invocation and writes one "9900 log lines dropped" line', async () => {
    const { r, engine, name } = await setup('log-flood.ts');
    watchCopies();
    expect(await requestBody(r, name, { mode: 'lines' })).toEqual({ done: true });
    expect(largest()).toBeLessThan(LOG_LIMITS.charsPerInvocation);
    const lines = await eventually(async () => {
      const got = (await payloads(engine, `$logs.${name}`)) as Line[];
      return got.length >= LOG_LIMITS.linesPerInvocation + 1 ? got : undefined;
    });
    expect(lines).toHaveLength(LOG_LIMITS.linesPerInvocation + 1);
    expect(lines[99]).toMatchObject({ message: 'line 99' });
    expect(lines[100]).toMatchObject({
      level: 'warn',
      message: expect.stringMatching(/^9900 log lines dropped/) as unknown,
      fields: { dropped: 9900, reason: 'invocation' },
    });
    expect(r.list().find((b) => b.name === name)?.stats.logLinesDropped).toBe(9900);
    expect(await requestBody(r, name)).toEqual({ done: true });
  });

  it('holds a block to its lines per second across invocations, counting what it drops', async () => {
    const { r, engine, name } = await setup('log-flood.ts', { logBudget: { linesPerSecond: 50 } });
    expect(await requestBody(r, name, { mode: 'hundred' })).toEqual({ done: true });
    expect(await requestBody(r, name, { mode: 'hundred' })).toEqual({ done: true });
    // Every one of the 200 lines is either published or counted in a "dropped" line: none vanish.
    const lines = await eventually(async () => {
      const got = (await payloads(engine, `$logs.${name}`)) as Line[];
      const kept = got.filter((l) => l.message.startsWith('line ')).length;
      const dropped = got.reduce(
        (n, l) =>
          n +
          ((l.fields as { reason?: string; dropped?: number } | undefined)?.reason === 'rate'
            ? (l.fields as { dropped: number }).dropped
            : 0),
        0,
      );
      return kept + dropped === 200 ? got : undefined;
    });
    expect(lines.some((l) => (l.fields as { reason?: string } | undefined)?.reason === 'rate')).toBe(true);
    expect(r.list().find((b) => b.name === name)?.stats.logLinesDropped).toBeGreaterThan(0);
  });
});

describe('hostile blocks: oversized results', () => {
  it('fails a request block returning 90 MB with RESULT_TOO_LARGE, without copying it out', async () => {
    const { r, engine, name } = await setup('huge-result.ts');
    watchCopies();
    const err = await requestFailure(r, name, { mode: 'huge' });
    expect(err.code).toBe('RESULT_TOO_LARGE');
    expect(err.message).toContain(String(MAX_REQUEST_RESULT_CHARS));
    expect(largest()).toBeLessThan(10_000);
    await echoStillWorks(engine);
    expect(await requestBody(r, name)).toEqual({ small: true });
  });

  it('rejects a publish whose before-publish rewrite is over the result cap (RESULT_TOO_LARGE), without copying it out', async () => {
    const { r, name } = await setup('huge-rewrite.ts');
    watchCopies();
    const rejected = await r.interceptor.intercept({ channel: 'rewrite.a', data: { huge: true } }).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(TributaryError);
    expect((rejected as TributaryError).code).toBe('REJECTED');
    const cause = (rejected as TributaryError).cause as BlockError;
    expect(cause.code).toBe('RESULT_TOO_LARGE');
    expect(cause.message).toContain(String(MAX_RESULT_CHARS));
    expect(largest()).toBeLessThan(10_000);
    expect(await r.interceptor.intercept({ channel: 'rewrite.a', data: { n: 1 } })).toEqual({ data: { kept: { n: 1 } } });
    expect(r.list().find((b) => b.name === name)?.stats.lastError?.code).toBe('RESULT_TOO_LARGE');
  });
});
