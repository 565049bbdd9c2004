import { describe, expect, it } from 'vitest';
import { MAX_FETCH_BODY_CHARS, MAX_HOST_ARGS_CHARS, MAX_KV_VALUE_CHARS, MAX_RESULT_CHARS } from '../src/index.js';
import { copiedOut } from '../src/sandbox.js';
import { deployFixture, echoStillWorks, payloads, requestBody, requestFailure, runner } from './helpers.js';

/**
 * What a block hands to a host call — a publish's data, a kv value, a fetch body, any call's
 * arguments — is measured inside its isolate, as its JSON, before anything is copied out: a 90 MB
 * argument is refused there with PAYLOAD_TOO_LARGE. Each test reads the largest text that crossed
 * from an isolate to the host (the sandbox records it), so "never copied" is checked, not assumed.
 */
type Outcome = { code?: string | null; message?: string; ok?: boolean };

async function setup(options: Parameters<typeof runner>[0] = {}) {
  const { runner: r, engine } = runner(options);
  await deployFixture(r, 'echo.ts');
  const { name } = await deployFixture(r, 'hostile/huge-args.ts');
  return { r, engine, name };
}

describe('hostile blocks: oversized host-call arguments', () => {
  const cases: Array<[mode: string, limit: number]> = [
    ['publish', MAX_RESULT_CHARS],
    ['channel', MAX_HOST_ARGS_CHARS],
    ['kv', MAX_KV_VALUE_CHARS],
    ['kvJson', MAX_KV_VALUE_CHARS],
    ['fetch', MAX_FETCH_BODY_CHARS],
    ['call', MAX_HOST_ARGS_CHARS],
  ];
  for (const [mode, limit] of cases) {
    it(`refuses a 90 MB ${mode} argument inside the isolate (PAYLOAD_TOO_LARGE), without copying it out`, async () => {
      const { r, engine, name } = await setup();
      copiedOut.largest = 0;
      const out = await requestBody<Outcome>(r, name, { mode });
      expect(out.code).toBe('PAYLOAD_TOO_LARGE');
      expect(out.message).toContain(String(limit));
      expect(copiedOut.largest).toBeLessThan(100_000);
      await echoStillWorks(engine);
    });
  }

  it('fails an invocation that does not catch the refusal with PAYLOAD_TOO_LARGE', async () => {
    const { r, name } = await setup();
    copiedOut.largest = 0;
    const err = await requestFailure(r, name, { mode: 'publish', throw: true });
    expect(err.code).toBe('PAYLOAD_TOO_LARGE');
    expect(copiedOut.largest).toBeLessThan(100_000);
    expect(r.list().find((b) => b.name === name)?.stats.lastError?.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it("measures publishes against the runner's maxPayloadBytes, and publishes what fits", async () => {
    const { r, engine, name } = await setup({ maxPayloadBytes: 1000 });
    expect(await requestBody<Outcome>(r, name, { mode: 'small' })).toEqual({ ok: true });
    expect(await payloads(engine, 'huge.a')).toEqual([{ small: true }]);
    const out = await requestBody<Outcome>(r, name, { mode: 'publish' });
    expect(out).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', message: expect.stringContaining('limit 1000') as unknown });
    expect(await payloads(engine, 'huge.a')).toEqual([{ small: true }]);
  });
});
