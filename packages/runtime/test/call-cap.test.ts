import ivm from 'isolated-vm';
import { describe, expect, it } from 'vitest';
import { BOOTSTRAP } from '../src/bootstrap.js';
import { compileSource, DEFAULT_LIMITS, MAX_LIMITS } from '../src/index.js';
import { copiedOut } from '../src/sandbox.js';
import { blockRequest, requestFailure, runner } from './helpers.js';

/**
 * `callsPerInvocation` bounds what the host sees, not only what it answers: a handler firing 200k
 * host calls synchronously used to put all of them into one drain (6.3 MB copied out, every refused
 * call a reply round into the isolate). The bootstrap counts an invocation's calls and refuses those
 * past the cap inside the isolate, so at most cap + 1 reach the host (the one past the cap is the
 * host's own CALL_LIMIT refusal, which the invocation's failure is then classified by).
 */
const N = 200_000;

/** Calls in one drain text of the bootstrap. */
function callsIn(drained: string): number {
  return drained === '' ? 0 : (JSON.parse(drained) as [unknown[], unknown[]])[0].length;
}

async function bootstrapDrain(caps: Record<string, number>): Promise<number> {
  const isolate = new ivm.Isolate({ memoryLimit: 128 });
  try {
    const context = await isolate.createContext();
    await context.eval(BOOTSTRAP);
    await context.eval(`globalThis.__tributaryBlock = { default: { handle(req, ctx) {
      for (let i = 0; i < ${N}; i++) ctx.kv.get('k').catch(() => {});
      return 1;
    } } };`);
    const invoke = (await context.global.get('__invoke', { reference: true })) as ivm.Reference;
    const drain = (await context.global.get('__drain', { reference: true })) as ivm.Reference;
    const base = {
      lines: 100,
      chars: 65536,
      lineChars: 8192,
      slack: 0,
      result: 65536,
      error: 4096,
      payload: 65536,
      kv: 65536,
      fetchBody: 1 << 20,
      args: (1 << 20) + 65536,
    };
    const info = JSON.stringify({ name: 'flood', version: 'v', config: {}, secrets: {}, caps: { ...base, ...caps } });
    const first = invoke.applySync(undefined, [1, '{}', info], {
      timeout: 10_000,
      arguments: { copy: true },
      result: { copy: true },
    }) as string;
    const rest = drain.applySync(undefined, [], { timeout: 10_000, result: { copy: true } }) as string;
    return callsIn(first) + callsIn(rest);
  } finally {
    isolate.dispose();
  }
}

describe('host-call cap inside the isolate', () => {
  it('hands the host at most cap + 1 of 200k synchronous calls (the cap given in caps.calls)', async () => {
    expect(await bootstrapDrain({ calls: 50 })).toBe(51);
    expect(await bootstrapDrain({ calls: 3 })).toBe(4);
  }, 60_000);

  it('without caps.calls, at most the hard ceiling (MAX_LIMITS.callsPerInvocation) + 1', async () => {
    expect(await bootstrapDrain({})).toBe(MAX_LIMITS.callsPerInvocation + 1);
  }, 60_000);

  const flood = (mode: 'swallow' | 'fail') => `import { defineBlock } from '@tributary/block';
export default defineBlock({
  name: 'flood-${mode}',
  trigger: { request: true },
  limits: { memoryMb: 256, cpuMs: 5000, wallMs: 60000 },
  async handle(req, ctx) {
    const ps = [];
    for (let i = 0; i < ${N}; i++) ps.push(ctx.kv.get('k'));
    ${mode === 'fail' ? 'await Promise.all(ps);' : ''}
    const out = await Promise.allSettled(ps);
    const counts = { ok: 0, host: 0, isolate: 0, other: 0 };
    for (const o of out) {
      if (o.status === 'fulfilled') counts.ok++;
      else if (o.reason.code !== 'CALL_LIMIT') counts.other++;
      else if (/inside the isolate/.test(o.reason.message)) counts.isolate++;
      else counts.host++;
    }
    return { body: counts };
  },
});`;

  it('a handler firing 200k calls synchronously: refusals carry CALL_LIMIT, the host saw few, little was copied out', async () => {
    const { runner: r } = runner();
    await r.deploy(await compileSource(flood('swallow')));
    copiedOut.largest = 0;
    const res = await r.handleRequest('flood-swallow', blockRequest());
    const counts = res?.body as { ok: number; host: number; isolate: number; other: number };
    const cap = DEFAULT_LIMITS.callsPerInvocation;
    expect(counts.ok).toBe(cap);
    expect(counts.other).toBe(0);
    expect(counts.ok + counts.host + counts.isolate).toBe(N);
    // What reached the host: the admitted calls and its own one refusal (the sandbox hands the
    // block's cap to the isolate, which rejects every later call itself).
    expect(counts.host).toBe(1);
    expect(counts.ok + counts.host).toBe(cap + 1);
    expect(copiedOut.largest).toBeLessThan(100_000);
  }, 120_000);

  it('a handler that awaits them all fails with CALL_LIMIT', async () => {
    const { runner: r } = runner();
    await r.deploy(await compileSource(flood('fail')));
    copiedOut.largest = 0;
    const err = await requestFailure(r, 'flood-fail');
    expect(err.code).toBe('CALL_LIMIT');
    expect(copiedOut.largest).toBeLessThan(100_000);
  }, 120_000);
});
