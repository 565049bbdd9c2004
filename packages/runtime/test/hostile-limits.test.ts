import { TributaryError } from '@tributary/protocol';
import { eventually } from '@tributary/testkit';
import { describe, expect, it } from 'vitest';
import { BlockError, compileBlock, resolveLimits, type RunnerOptions } from '../src/index.js';
import { BlockSandbox } from '../src/sandbox.js';
import {
  blockRequest,
  coldStarts,
  deployFixture,
  echoStillWorks,
  fixture,
  payloads,
  requestBody,
  requestFailure,
  runner,
} from './helpers.js';

/**
 * One test per resource-abuse fixture (test/fixtures/hostile). Each shows the block is contained (a
 * typed BlockError), the host is unharmed (the well-behaved `echo` block on the same runner still
 * processes messages) and the offender recovers (a fresh isolate answers its next normal call).
 */
async function setup(fixture: string, options: Partial<RunnerOptions> = {}) {
  const { runner: r, engine } = runner(options);
  await deployFixture(r, 'echo.ts');
  const info = await deployFixture(r, `hostile/${fixture}`);
  return { r, engine, name: info.name };
}

describe('hostile blocks: resource limits', () => {
  it('stops an infinite synchronous loop with CPU_LIMIT, dead-letters it, and keeps serving', async () => {
    const { r, engine, name } = await setup('cpu-loop.ts', { retry: { attempts: 2, baseMs: 5, maxMs: 10 } });
    await engine.append({ channel: 'cpu.a', payload: JSON.stringify({ hostile: true, id: 1 }) });
    const dead = await eventually(async () => (await payloads(engine, `$dlq.${name}`))[0]);
    expect(dead).toMatchObject({ block: name, attempts: 2, error: { code: 'CPU_LIMIT' }, data: { hostile: true, id: 1 } });
    expect(r.list().find((b) => b.name === name)?.stats.lastError?.code).toBe('CPU_LIMIT');
    await echoStillWorks(engine);
    // Recovers: the next message runs in a recreated isolate.
    const before = coldStarts(r, name);
    await engine.append({ channel: 'cpu.b', payload: JSON.stringify({ id: 2 }) });
    expect(await eventually(async () => (await payloads(engine, 'cpu-out.cpu.b'))[0])).toEqual({ id: 2 });
    expect(coldStarts(r, name)).toBeGreaterThanOrEqual(3); // load + one restart per failed attempt
    expect(coldStarts(r, name)).toBe(before + 1);
  });

  it('ends a handler awaiting a promise that never settles with WALL_LIMIT, rejecting the publish', async () => {
    const { r, engine, name } = await setup('never-resolves.ts');
    const rejected = await r.interceptor.intercept({ channel: 'gate.a', data: { hostile: true } }).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(TributaryError);
    expect((rejected as TributaryError).code).toBe('REJECTED');
    const cause = (rejected as TributaryError).cause;
    expect(cause).toBeInstanceOf(BlockError);
    expect((cause as BlockError).code).toBe('WALL_LIMIT');
    await echoStillWorks(engine);
    const before = coldStarts(r, name);
    expect(await r.interceptor.intercept({ channel: 'gate.a', data: { n: 1 } })).toEqual({ data: { passed: { n: 1 } } });
    expect(coldStarts(r, name)).toBe(before + 1);
  });

  // Every slice of block code (the handler's first run, each continuation a host reply wakes) runs in
  // a synchronous call bounded by the invocation's CPU budget, so loops after an await are CPU_LIMIT,
  // not left to the wall timer.
  it('stops a loop resumed after an already-settled await (CPU_LIMIT)', async () => {
    const { r, engine, name } = await setup('loop-after-await.ts');
    const err = await requestFailure(r, name, { mode: 'microtask' });
    expect(err.code).toBe('CPU_LIMIT');
    await echoStillWorks(engine);
    expect(await requestBody(r, name)).toEqual({ ok: true });
  });

  it('stops a loop resumed after a host call replied (CPU_LIMIT)', async () => {
    const { r, engine, name } = await setup('loop-after-await.ts');
    const err = await requestFailure(r, name, { mode: 'host' });
    expect(err.code).toBe('CPU_LIMIT');
    await echoStillWorks(engine);
    const before = coldStarts(r, name);
    expect(await requestBody(r, name)).toEqual({ ok: true });
    expect(coldStarts(r, name)).toBe(before + 1);
  });

  it('stops a loop queued a few microtasks after the handler returned (CPU_LIMIT)', async () => {
    const { r, engine, name } = await setup('loop-after-await.ts');
    const err = await requestFailure(r, name, { mode: 'after-return' });
    expect(err.code).toBe('CPU_LIMIT');
    await echoStillWorks(engine);
    expect(await requestBody(r, name)).toEqual({ ok: true });
  });

  it('charges a loop started by an unawaited host call to the invocation that fired the call', async () => {
    // Calls a handler fires are part of its invocation even when it does not await them, so the
    // loop in their .then runs inside it and is stopped by its CPU budget (not blamed on the next one).
    const limits = resolveLimits({ cpuMs: 50, wallMs: 400 }, false);
    const { code } = await compileBlock(fixture('hostile/loop-after-await.ts'));
    const { sandbox } = await BlockSandbox.load(code, limits, async () => null);
    const info = { name: 'hostile-loop-after-await', version: 'v', config: {}, secrets: {} };
    try {
      await expect(sandbox.invoke(blockRequest({ mode: 'dangling' }), info)).rejects.toMatchObject({ code: 'CPU_LIMIT' });
      expect(await sandbox.invoke(blockRequest(), info)).toEqual({ body: { ok: true } });
      expect(sandbox.coldStarts).toBe(2);
    } finally {
      sandbox.dispose();
    }
    // And on a runner, another block keeps working meanwhile.
    const { r, engine, name } = await setup('loop-after-await.ts');
    expect((await requestFailure(r, name, { mode: 'dangling' })).code).toBe('CPU_LIMIT');
    await echoStillWorks(engine);
    expect(await eventually(() => requestBody(r, name).catch(() => undefined))).toEqual({ ok: true });
  });

  it('disposes an isolate whose code spins after its invocation ended, and the next invocation starts afresh', async () => {
    // The handler answers; then its own leftover code makes a call, which the host refuses (the
    // invocation is over), and spins in the refusal's handler, outside any invocation. That code may
    // use cpuMs in all before the isolate is disposed.
    const limits = resolveLimits({ cpuMs: 50, wallMs: 400 }, false);
    const { code } = await compileBlock(fixture('hostile/loop-after-await.ts'));
    let calls = 0;
    const { sandbox } = await BlockSandbox.load(code, limits, async () => {
      calls++;
      return null;
    });
    const info = { name: 'hostile-loop-after-await', version: 'v', config: {}, secrets: {} };
    try {
      expect(await sandbox.invoke(blockRequest({ mode: 'late' }), info)).toEqual({ body: { late: true } });
      await eventually(async () => (sandbox.loaded ? undefined : true));
      // The refused call never reached the host handler.
      expect(calls).toBe(0);
      expect(await sandbox.invoke(blockRequest(), info)).toEqual({ body: { ok: true } });
      expect(sandbox.coldStarts).toBe(2);
    } finally {
      sandbox.dispose();
    }
  });

  it('disposes an isolate that exhausts its heap with growing arrays (MEMORY_LIMIT)', async () => {
    const { r, engine, name } = await setup('memory-bomb.ts');
    const err = await requestFailure(r, name, { hostile: true });
    expect(err.code).toBe('MEMORY_LIMIT');
    await echoStillWorks(engine);
    const before = coldStarts(r, name);
    expect(await requestBody(r, name)).toEqual({ ok: true });
    expect(coldStarts(r, name)).toBe(before + 1);
  });

  it.each(['repeat', 'double'])('contains a huge string built by %s (MEMORY_LIMIT or a RangeError)', async (mode) => {
    const { r, engine, name } = await setup('huge-string.ts');
    const err = await requestFailure(r, name, { mode });
    expect(['MEMORY_LIMIT', 'HANDLER_ERROR']).toContain(err.code);
    if (err.code === 'HANDLER_ERROR') expect(err.message).toMatch(/string length|memory/i);
    await echoStillWorks(engine);
    expect(await requestBody(r, name)).toEqual({ ok: true });
  });

  it('turns a stack overflow into HANDLER_ERROR and keeps the isolate usable', async () => {
    const { r, engine, name } = await setup('deep-recursion.ts');
    const err = await requestFailure(r, name, { hostile: true });
    expect(err.code).toBe('HANDLER_ERROR');
    expect(err.message).toMatch(/call stack/i);
    await echoStillWorks(engine);
    expect(await requestBody(r, name)).toEqual({ ok: true });
  });

  it.each(['pending', 'chain'])('contains a flood of %s promises', async (mode) => {
    const { r, engine, name } = await setup('promise-flood.ts');
    const err = await requestFailure(r, name, { mode });
    expect(['MEMORY_LIMIT', 'CPU_LIMIT', 'WALL_LIMIT']).toContain(err.code);
    await echoStillWorks(engine);
    const before = coldStarts(r, name);
    expect(await requestBody(r, name)).toEqual({ ok: true });
    expect(coldStarts(r, name)).toBe(before + 1);
  });

  it('fails a block publishing past its host-call cap with CALL_LIMIT and stores only the allowed calls', async () => {
    const { r, engine, name } = await setup('call-flood.ts');
    const seq = await requestFailure(r, name, { mode: 'sequential' });
    expect(seq.code).toBe('CALL_LIMIT');
    expect(await payloads(engine, 'flood.seq')).toHaveLength(5);

    const par = await requestFailure(r, name, { mode: 'parallel' });
    expect(par.code).toBe('CALL_LIMIT');
    expect(await payloads(engine, 'flood.par')).toHaveLength(5);

    // Swallowing the refusals does not buy more calls.
    expect(await requestBody(r, name, { mode: 'swallow' })).toEqual({ ok: 5, CALL_LIMIT: 95 });
    expect(await payloads(engine, 'flood.swallow')).toHaveLength(5);

    await echoStillWorks(engine);
    // The budget is per invocation: a normal call afterwards may publish again.
    expect(await requestBody(r, name)).toEqual({ ok: true });
    expect(await payloads(engine, 'flood.normal')).toEqual([{ ok: true }]);
  });
});
