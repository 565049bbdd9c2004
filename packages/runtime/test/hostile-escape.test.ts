import { describe, expect, it } from 'vitest';
import { BlockError, compileBlock, resolveLimits } from '../src/index.js';
import { BlockSandbox } from '../src/sandbox.js';
import { blockRequest, deployFixture, echoStillWorks, fixture, payloads, requestBody, requestFailure, runner } from './helpers.js';

/**
 * One test per sandbox-escape fixture (test/fixtures/hostile). Each fixture tries the escape and
 * reports what it reached (as its response body or a publish); the test asserts nothing of the host
 * was reachable, that the well-behaved `echo` block on the same runner still works, and that the
 * hostile block still answers a normal call.
 */
async function setup(fixture: string) {
  const { runner: r, engine } = runner();
  await deployFixture(r, 'echo.ts');
  const info = await deployFixture(r, `hostile/${fixture}`);
  return { r, engine, name: info.name };
}

type Body = Record<string, unknown>;

describe('hostile blocks: escape attempts', () => {
  it('reaches no `process` through this.constructor.constructor or Function("return this")', async () => {
    const { r, engine, name } = await setup('escape-function-constructor.ts');
    const found = await requestBody<Body>(r, name);
    expect(found.thisConstructorProcess).toBe('threw:ReferenceError');
    expect(found.functionThisProcess).toBe('undefined');
    expect(found.objectConstructorProcess).toBe('string:[object String]'); // typeof process === "undefined"
    const globals = String(found.globalKeys).split(',');
    for (const hostGlobal of ['process', 'require', 'Buffer', 'global', 'module', 'setTimeout', '__host']) {
      expect(globals).not.toContain(hostGlobal);
    }
    await echoStillWorks(engine);
  });

  it('finds no require, process, module or Buffer, not even through indirect eval', async () => {
    const { r, engine, name } = await setup('escape-require.ts');
    const { found, viaEval } = await requestBody<{ found: Record<string, string>; viaEval: string }>(r, name);
    for (const n of ['require', 'process', 'module', 'exports', 'Buffer', 'global', 'setTimeout', 'setImmediate', 'fetch', '__dirname']) {
      expect(found[n], n).toBe('undefined');
    }
    expect(viaEval).toBe('undefined/undefined');
    await echoStillWorks(engine);
  });

  it('cannot load a Node module with a dynamic import the bundler could not see', async () => {
    const { r, engine, name } = await setup('escape-dynamic-import.ts');
    const results = await requestBody<Record<string, string>>(r, name, { hostile: true });
    expect(results.computed).toMatch(/^threw:/);
    expect(results.viaFunction).toMatch(/^threw:/);
    await echoStillWorks(engine);
    expect(await requestBody(r, name)).toEqual({ ok: true });
  });

  it('cannot find the host bridge (__host or any isolated-vm Reference) on the global object', async () => {
    const { r, engine, name } = await setup('escape-host-bridge.ts');
    expect(await requestBody(r, name)).toEqual({
      host: 'undefined',
      hostDescriptor: 'none',
      ivm: 'undefined',
      isolatedVm: 'undefined',
      references: [],
    });
    await echoStillWorks(engine);
  });

  it("pollutes only its own isolate's prototypes: the host and other blocks are untouched", async () => {
    const { r, engine, name } = await setup('prototype-pollution.ts');
    await deployFixture(r, 'hostile/probe.ts');
    const res = await r.handleRequest(name, { method: 'POST', path: '/', query: {}, headers: {}, body: { hostile: true } });
    // The host: its Object.prototype and Array.prototype gained nothing, and the `__proto__` key the
    // block returned and published arrived as plain data, not as a prototype.
    const probe = {} as Record<string, unknown>;
    expect(probe.polluted).toBeUndefined();
    expect(probe.isAdmin).toBeUndefined();
    expect(([] as unknown as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(res?.body)).toBe(Object.prototype);
    expect(Object.hasOwn(res?.body as object, '__proto__')).toBe(true);
    expect((res?.body as Record<string, unknown>).polluted).toBeUndefined();
    const [stored] = (await payloads(engine, 'polluted.out')) as Array<Record<string, unknown>>;
    expect(Object.getPrototypeOf(stored)).toBe(Object.prototype);
    expect(stored?.polluted).toBeUndefined();
    // Another block, in its own isolate, sees pristine prototypes and an unpolluted input.
    const seen = await requestBody<Body>(r, 'hostile-probe', { ordinary: true });
    expect(seen).toMatchObject({
      inherited: null,
      isAdmin: null,
      inputPolluted: null,
      inputKeys: ['body', 'headers', 'method', 'path', 'query'],
    });
    expect(seen.objectProto).toEqual(Object.getOwnPropertyNames(Object.prototype).sort());
    // The well-behaved echo block's inputs and outputs are unaffected.
    const out = (await echoStillWorks(engine)) as Record<string, unknown>;
    expect(Object.keys(out).sort()).toEqual(['echo', 'n']);
    // The polluter's own isolate stays polluted (it is its own realm) but keeps working.
    expect(await requestBody(r, name)).toEqual({ ok: true, inherited: 'yes' });
  });

  it('gets no host object out of Error.prepareStackTrace call sites', async () => {
    const { r, engine, name } = await setup('prepare-stack-trace.ts');
    const seen = await requestBody<{ frames: number[]; thisTypes: string[]; functions: string[]; files: string[]; sloppy: string }>(
      r,
      name,
      { mode: 'capture' },
    );
    expect(seen.frames.every((n) => n > 0)).toBe(true); // the trick itself worked
    expect(seen.thisTypes).toEqual([]); // strict frames: no receivers
    expect(seen.functions).toEqual([]); // and no function objects
    // Frames are the block's bundle, the bootstrap glue, or V8 builtins: never a host file.
    for (const f of seen.files) expect(f).toMatch(/^(block\.js|<isolated-vm>|null|undefined)$/);
    expect(seen.sloppy).toBe('string');
    await echoStillWorks(engine);
  });

  it('never lets the host read a stack through a spinning prepareStackTrace (HANDLER_ERROR, host not frozen)', async () => {
    // Copying a rejected Error out of the isolate reads its stack while isolated-vm holds a lock the
    // host's event loop waits on: this froze the whole process before the bootstrap sent only strings.
    const { r, engine, name } = await setup('prepare-stack-trace.ts');
    const err = await requestFailure(r, name, { mode: 'loop' });
    expect(err.code).toBe('HANDLER_ERROR');
    expect(err.message).toBe('read my stack');
    await echoStillWorks(engine);
    // The hook stays in the block's own realm, where it harms nobody.
    expect(await requestBody(r, name)).toEqual({ ok: true, prepare: 'function' });
  });

  it('bounds a bundle whose top level throws with a spinning prepareStackTrace (INVALID_BLOCK)', async () => {
    const { runner: r, engine } = runner();
    await deployFixture(r, 'echo.ts');
    const err = await deployFixture(r, 'hostile/load-stack-trap.ts').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlockError);
    expect((err as BlockError).code).toBe('INVALID_BLOCK');
    expect(r.list().map((b) => b.name)).toEqual(['echo']);
    await echoStillWorks(engine);
  });

  it('stops Atomics.wait blocking forever (CPU_LIMIT or WALL_LIMIT)', async () => {
    const { r, engine, name } = await setup('shared-memory.ts');
    const err = await requestFailure(r, name, { mode: 'wait' });
    expect(['CPU_LIMIT', 'WALL_LIMIT']).toContain(err.code);
    await echoStillWorks(engine);
    expect(await requestBody(r, name)).toEqual({ ok: true });
  });

  it("charges time a block holds the runner's thread without using CPU (Atomics.wait between host calls) to its CPU budget", async () => {
    // 40 waits of 20 ms, each in its own slice after a host call: 800 ms of a blocked thread, little
    // CPU. Every slice is bounded by what is left of cpuMs (50), so the block is stopped within a few
    // waits, not after all 40 (or at wallMs, 400).
    const limits = resolveLimits({ cpuMs: 50, wallMs: 400 }, false);
    const { code } = await compileBlock(fixture('hostile/shared-memory.ts'));
    let calls = 0;
    const { sandbox } = await BlockSandbox.load(code, limits, async () => {
      calls++;
      return null;
    });
    try {
      const info = { name: 'hostile-shared-memory', version: 'v', config: {}, secrets: {} };
      await expect(sandbox.invoke(blockRequest({ mode: 'wait-each' }), info)).rejects.toMatchObject({ code: 'CPU_LIMIT' });
      expect(calls).toBeLessThan(10);
    } finally {
      sandbox.dispose();
    }
    const { r, engine, name } = await setup('shared-memory.ts');
    expect((await requestFailure(r, name, { mode: 'wait-each' })).code).toBe('CPU_LIMIT');
    await echoStillWorks(engine);
    expect(await requestBody(r, name)).toEqual({ ok: true });
  });

  it('shares no memory with the host through a SharedArrayBuffer: the host gets JSON copies', async () => {
    const { r, engine, name } = await setup('shared-memory.ts');
    const body = await requestBody<Body>(r, name, { mode: 'share' });
    // A SharedArrayBuffer serialises to {}; the typed array to its values at the time of the copy.
    expect(body).toEqual({ sab: {}, view: { 0: 3, 1: 0, 2: 0, 3: 0 }, typeofSab: 'function' });
    expect(body.sab).not.toBeInstanceOf(SharedArrayBuffer);
    const [stored] = await payloads(engine, 'shared.out');
    // Published while view[0] was 1; the block's later writes did not reach the stored message.
    expect(stored).toEqual({ sab: {}, view: { 0: 1, 1: 0, 2: 0, 3: 0 } });
    await echoStillWorks(engine);
  });
});
