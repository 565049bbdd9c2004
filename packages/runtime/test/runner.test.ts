import { describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { compileBlock } from '../src/index.js';
import { deployFixture, fixture, runner } from './helpers.js';

describe('BlockRunner', () => {
  it('runs an after-publish block on every stored message and publishes its output with hops + 1', async () => {
    const { runner: r, engine } = runner();
    const info = await deployFixture(r, 'echo.ts');
    expect(info).toMatchObject({ name: 'echo', trigger: { kind: 'afterPublish', patterns: ['in.*'] } });
    for (let i = 0; i < 5; i++) await engine.append({ channel: 'in.a', payload: JSON.stringify({ i }) });
    const out = await eventually(async () => {
      const r2 = await engine.read('out.in.a', { limit: 10 });
      return r2.entries.length === 5 ? r2.entries : undefined;
    });
    expect(out.map((e) => JSON.parse(e.payload))).toEqual([0, 1, 2, 3, 4].map((i) => ({ echo: { i }, n: i + 1 })));
    expect(out.every((e) => e.hops === 1)).toBe(true);
    expect(r.list()[0]?.stats.invocations).toBe(5);
  });

  it('reports compile errors with file:line and keeps the previous version running', async () => {
    const { runner: r } = runner();
    const first = await deployFixture(r, 'echo.ts');
    const err = await compileBlock(fixture('syntax-error.ts')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'COMPILE_ERROR' });
    expect((err as Error).message).toMatch(/syntax-error\.ts:\d+:\d+: /);
    const node = await compileBlock(fixture('imports-node.ts')).catch((e: unknown) => e);
    expect(node).toMatchObject({ code: 'COMPILE_ERROR' });
    expect((node as Error).message).toMatch(/imports-node\.ts:\d+:\d+: .*node:fs/);
    const invalid = await deployFixture(r, 'not-a-block.ts').catch((e: unknown) => e);
    expect(invalid).toMatchObject({ code: 'INVALID_BLOCK' });
    expect(r.list()).toEqual([expect.objectContaining({ name: 'echo', version: first.version })]);
  });
});
