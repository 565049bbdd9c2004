import { afterEach, describe, expect, it, vi } from 'vitest';
import { BlockError, compileBlock } from '../src/index.js';
import { deployFixture, echoStillWorks, fixture, payloads, requestBody, requestFailure, runner } from './helpers.js';

/**
 * Resources a block could take outside its per-invocation limits (#19): WebAssembly memory, lanes
 * that each got the whole memory budget, top-level code at deploy, and publishes fanned out of one
 * message. One fixture per behaviour (test/fixtures/hostile).
 */
describe('hostile blocks: budgets beyond one invocation', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('has no WebAssembly unless the block opts in, so WASM memory outside the heap limit cannot grow', async () => {
    const { runner: r, engine } = runner();
    await deployFixture(r, 'echo.ts');
    const { name } = await deployFixture(r, 'hostile/wasm-memory.ts');
    const err = await requestFailure(r, name);
    expect(err.code).toBe('HANDLER_ERROR');
    expect(err.message).toMatch(/WebAssembly is not defined/);
    await echoStillWorks(engine);
    // A block that declared `limits: { wasm: true }` has it.
    const allowed = await deployFixture(r, 'wasm-allowed.ts');
    expect(await requestBody(r, allowed.name)).toEqual({ bytes: 2 * 65_536 });
  });

  it('refuses a deploy whose lanes would get less than 8 MiB each of its memoryMb (INVALID_BLOCK naming the field)', async () => {
    const { runner: r } = runner();
    const err = await deployFixture(r, 'hostile/lanes-memory.ts').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlockError);
    expect((err as BlockError).code).toBe('INVALID_BLOCK');
    expect((err as BlockError).message).toContain('limits.memoryMb');
    expect((err as BlockError).message).toContain('concurrency 16');
    expect(r.list()).toEqual([]);
  });

  it('splits memoryMb between the lanes: four lanes of 64 MiB each holding 24 MiB fail the deploy (MEMORY_LIMIT)', async () => {
    const { runner: r } = runner();
    const err = await deployFixture(r, 'hostile/lanes-hoard.ts').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlockError);
    expect((err as BlockError).code).toBe('MEMORY_LIMIT');
    expect(r.list()).toEqual([]);
  });

  it('fails a deploy whose top level spins forever with CPU_LIMIT, and the previous version keeps running', async () => {
    const { runner: r, engine } = runner();
    await deployFixture(r, 'echo.ts');
    const { code } = await compileBlock(fixture('hostile/top-level-loop.ts'));
    expect(code).toContain('SPIN = true');
    const good = code.replace('SPIN = true', 'SPIN = false');
    const first = await r.deploy({ code: good, version: 'good' });
    const err = await r.deploy({ code, version: 'spin' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlockError);
    expect((err as BlockError).code).toBe('CPU_LIMIT');
    expect(r.list().find((b) => b.name === first.name)?.version).toBe('good');
    expect(await requestBody(r, first.name)).toEqual({ version: 'good' });
    await echoStillWorks(engine);
  });

  it("holds top-level code to the block's own cpuMs, not a 1 s floor (CPU_LIMIT at deploy)", async () => {
    const { runner: r } = runner();
    const err = await deployFixture(r, 'hostile/top-level-cpu.ts').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlockError);
    expect((err as BlockError).code).toBe('CPU_LIMIT');
    expect(r.list()).toEqual([]);
  });

  it('lets a block publish at most its publishesPerSecond bucket; the rest fail with RATE_LIMITED', async () => {
    // Date is frozen, so no token refills while the invocation runs: the counts are exact.
    vi.useFakeTimers({ toFake: ['Date'] });
    const { runner: r, engine } = runner();
    const { name } = await deployFixture(r, 'hostile/publish-flood.ts');
    expect(await requestBody(r, name, { n: 1000, channel: 'flood.a' })).toEqual({ ok: 100, RATE_LIMITED: 900 });
    expect(await payloads(engine, 'flood.a')).toHaveLength(100);
    // The bucket is the block's, across invocations: empty until time passes.
    expect(await requestBody(r, name, { n: 10, channel: 'flood.b' })).toEqual({ RATE_LIMITED: 10 });
    vi.setSystemTime(Date.now() + 500);
    expect(await requestBody(r, name, { n: 100, channel: 'flood.c' })).toEqual({ ok: 50, RATE_LIMITED: 50 });
    // An unhandled refusal fails the invocation with that code.
    vi.setSystemTime(Date.now() + 10_000);
    expect(await requestBody(r, name, { n: 100, channel: 'flood.d' })).toEqual({ ok: 100 });
    expect(await payloads(engine, 'flood.d')).toHaveLength(100);
  });
});
