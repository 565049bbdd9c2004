import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BlockError, compileBlock, compileSource, MAX_SOURCE_BYTES, MAX_SOURCE_NESTING } from '../src/index.js';

/**
 * The compile service survives hostile sources: bounded before esbuild sees them, each a typed
 * COMPILE_ERROR, and a dead esbuild service is replaced. One nesting bomb used to kill esbuild's
 * service process, failing every later source deploy until the broker restarted.
 */
const GOOD = `import { defineBlock } from '@tributary/block';
export default defineBlock({ name: 'fine', trigger: { request: true }, handle: () => ({ body: 'ok' }) });`;

async function compileError(source: string): Promise<BlockError> {
  const err = await compileSource(source).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof BlockError)) throw new Error(`expected a BlockError, got ${String(err)}`);
  return err;
}

describe('compile service', () => {
  it('refuses a nesting bomb before esbuild sees it, and the next deploy still compiles', async () => {
    for (const open of ['(', '[', '{', '${`']) {
      const err = await compileError(`x = ${open.repeat(300_000)}`);
      expect(err.code, open).toBe('COMPILE_ERROR');
      expect(err.message, open).toMatch(new RegExp(`nested deeper than ${MAX_SOURCE_NESTING}`));
      expect((await compileSource(GOOD)).code).toContain('fine');
    }
  });

  it('refuses an oversized source with COMPILE_ERROR', async () => {
    const err = await compileError(`// ${'x'.repeat(MAX_SOURCE_BYTES)}`);
    expect(err.code).toBe('COMPILE_ERROR');
    expect((await compileSource(GOOD)).code).toContain('fine');
  });

  it('accepts nesting up to the limit', async () => {
    const depth = MAX_SOURCE_NESTING - 1;
    const source = `${GOOD}\nexport const deep = ${'['.repeat(depth)}${']'.repeat(depth)};`;
    expect((await compileSource(source)).code).toContain('fine');
  });

  it('times a compile out with COMPILE_ERROR, and the next deploy still compiles', async () => {
    // 0 ms: the answer cannot come back from esbuild's process before the timer fires.
    const big = `${GOOD}\n${Array.from({ length: 20_000 }, (_, i) => `export const v${i} = { a: [${i}, '${i}'] };`).join('\n')}`;
    const err = await compileSource(big, 'ts', { timeoutMs: 0 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BlockError);
    expect(err).toMatchObject({ code: 'COMPILE_ERROR', message: expect.stringMatching(/timed out/) as unknown });
    expect((await compileSource(GOOD)).code).toContain('fine');
  });

  it('replaces an esbuild service that died (killed), so the next deploy compiles', async () => {
    expect((await compileSource(GOOD)).code).toContain('fine');
    const children = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => /esbuild/.test(l) && /--service/.test(l));
    expect(children.length).toBeGreaterThan(0);
    for (const l of children) process.kill(Number(l.trim().split(/\s+/)[0]), 'SIGKILL');
    expect((await compileSource(GOOD)).code).toContain('fine');
    expect((await compileSource(GOOD)).code).toContain('fine');
  });
});

/** A block whose handler uses `use` imported from `spec`. */
const importing = (spec: string, use: string): string => `import { ${use} } from '${spec}';
import { defineBlock } from '@tributary/block';
export default defineBlock({ name: 'uses-node', trigger: { request: true }, handle: () => ({ body: String(${use}) }) });
`;

describe('Node built-ins', () => {
  // Blocks run in a bare V8 isolate: an import of a Node built-in is a compile error that says so and
  // names the ctx module to use instead, not esbuild's "Could not resolve".
  const cases: Array<[spec: string, use: string, hint: string]> = [
    ['node:fs', 'readFileSync', 'ctx.kv'],
    ['fs', 'readFileSync', 'ctx.kv'],
    ['fs/promises', 'readFile', 'ctx.kv'],
    ['node:http', 'request', 'ctx.fetch'],
    ['https', 'get', 'ctx.fetch'],
    ['node:child_process', 'spawn', 'ctx.fetch'],
  ];

  it.each(cases)(
    '%s in a block file (tributary deploy, block folders): names the built-in and the ctx module instead',
    async (spec, use, hint) => {
      const dir = await mkdtemp(join(tmpdir(), 'compile-builtin-'));
      try {
        const entry = join(dir, 'index.ts');
        await writeFile(entry, importing(spec, use));
        const err = await compileBlock(entry).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(BlockError);
        expect(err).toMatchObject({ code: 'COMPILE_ERROR' });
        const message = (err as Error).message;
        expect(message).toMatch(/index\.ts:1:\d+: /);
        expect(message).toContain(`blocks cannot import Node built-ins (${spec})`);
        expect(message).toContain(hint);
        expect(message).not.toContain('Could not resolve');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  it.each(cases)('%s in a source deployed over HTTP: names the built-in and the ctx module instead', async (spec, use, hint) => {
    const err = await compileError(importing(spec, use));
    expect(err.code).toBe('COMPILE_ERROR');
    expect(err.message).toMatch(/block\.ts:1:\d+: /);
    expect(err.message).toContain(`blocks cannot import Node built-ins (${spec})`);
    expect(err.message).toContain(hint);
  });

  it('a bare name a package in node_modules provides (an npm polyfill) still resolves to that package', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'compile-polyfill-'));
    try {
      await mkdir(join(dir, 'node_modules', 'events'), { recursive: true });
      await writeFile(join(dir, 'node_modules', 'events', 'package.json'), JSON.stringify({ name: 'events', main: 'index.js' }));
      await writeFile(join(dir, 'node_modules', 'events', 'index.js'), 'export const polyfilled = "from npm";\n');
      const entry = join(dir, 'index.ts');
      await writeFile(entry, importing('events', 'polyfilled'));
      expect((await compileBlock(entry)).code).toContain('from npm');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
