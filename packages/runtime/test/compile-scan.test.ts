import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compilerRuns, MAX_COMPILED_BYTES, MAX_SOURCE_CHAIN } from '../src/compile.js';
import { BlockError, compileSource, MAX_SOURCE_BYTES, MAX_SOURCE_NESTING } from '../src/index.js';

/**
 * The nesting scan before esbuild reads the source as JavaScript/TypeScript tokens: brackets inside
 * strings, templates, comments and regular expressions neither hide nor fake nesting, and chains of
 * operators that nest without brackets (`!!!…`, `a = b = …`, `if (…) if (…) …`) count too. Bypasses
 * a reviewer found each reached esbuild (and crashed its service, or compiled a 174k-deep array).
 */
const HEAD = `import { defineBlock } from '@tributary/block';
export default defineBlock({ name: 'x', trigger: { request: true }, handle() { return { body: 1 }; } });
`;

/** Compiles `source`; its COMPILE_ERROR and whether esbuild ran for it. */
async function refused(source: string): Promise<{ err: BlockError; ranEsbuild: boolean }> {
  const before = compilerRuns.count;
  const err = await compileSource(source).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof BlockError)) throw new Error(`expected a BlockError, got ${String(err)}`);
  expect(err.code).toBe('COMPILE_ERROR');
  return { err, ranEsbuild: compilerRuns.count !== before };
}

describe('compile service: lexer-aware nesting scan', () => {
  it('refuses a unary-operator chain without brackets before esbuild runs', async () => {
    for (const op of ['!', '~', '-', '+', 'typeof ', 'void ', '- ', '+ ']) {
      const n = Math.floor((MAX_SOURCE_BYTES - HEAD.length - 100) / op.length);
      const { err, ranEsbuild } = await refused(`${HEAD}export const u = ${op.repeat(n)}0;\n`);
      expect(err.message, op).toMatch(new RegExp(`chained deeper than ${MAX_SOURCE_CHAIN}`));
      expect(ranEsbuild, op).toBe(false);
    }
  });

  it('refuses other bracketless chains (assignment, conditional, arrow, if) before esbuild runs', async () => {
    for (const [unit, tail] of [
      ['a = ', '0'],
      ['a ? 0 : ', '0'],
      ['a => ', '0'],
      ['if (a) ', ';'],
      ['a ** ', '2'],
    ] as const) {
      const n = Math.floor((MAX_SOURCE_BYTES - HEAD.length - 100) / unit.length);
      const { err, ranEsbuild } = await refused(`${HEAD}let a; export const f = () => { ${unit.repeat(n)}${tail} };\n`);
      expect(err.message, unit).toMatch(/chained deeper than|nested deeper than/);
      expect(ranEsbuild, unit).toBe(false);
    }
  });

  it('sees nesting that closing brackets inside strings would cancel, before esbuild runs', async () => {
    const n = Math.floor((MAX_SOURCE_BYTES - HEAD.length - 100) / 6);
    for (const q of ['"', "'", '`']) {
      const { err, ranEsbuild } = await refused(`${HEAD}export const bomb = ${`[${q})${q},`.repeat(n)}0${']'.repeat(n)};\n`);
      expect(err.message, q).toMatch(new RegExp(`nested deeper than ${MAX_SOURCE_NESTING}`));
      expect(ranEsbuild, q).toBe(false);
    }
    // Closers in comments and regular expressions do not cancel either.
    for (const unit of ['[ /*)*/ ', '[ /\\)/, ', '[ // )\n']) {
      const n = Math.floor((MAX_SOURCE_BYTES - HEAD.length - 100) / unit.length);
      const { ranEsbuild } = await refused(`${HEAD}export const bomb = ${unit.repeat(n)}0${']'.repeat(n)};\n`);
      expect(ranEsbuild, unit).toBe(false);
    }
  });

  it('accepts brackets inside strings, templates, comments and regular expressions', async () => {
    const faces = Array.from({ length: 300 }, () => '":("').join(',');
    const source = `${HEAD}export const faces = [${faces}];
export const t = \`${'(['.repeat(300)} \${ faces.length } ${'{'.repeat(300)}\`;
// ${'('.repeat(300)}
/* ${'['.repeat(300)} */
export const re = /${'\\('.repeat(300)}/;
export const s = '${'{'.repeat(300)}\\' ${'('.repeat(300)}';
export const q = 1 / 2 / (3) + (faces.length) / 4; // ${'['.repeat(300)}
`;
    const out = await compileSource(source);
    expect(out.code).toContain(':(');
  });

  it('accepts long flat chains real code has (300 else-if branches, a 2000-term sum, many unary terms)', async () => {
    const branches = Array.from({ length: 300 }, (_, i) => `if (n === ${i}) { r = ${i}; }`).join(' else ');
    const sum = Array.from({ length: 2000 }, (_, i) => `${i}`).join(' + ');
    const unary = Array.from({ length: 2000 }, (_, i) => `!v${i % 5}`).join(' && ');
    const source = `${HEAD}export function f(n: number) { let r = -1; ${branches} return r; }
export const total = ${sum};
let v0 = 1, v1 = 1, v2 = 1, v3 = 1, v4 = 1;
export const all = ${unary};
`;
    expect((await compileSource(source)).code).toContain('total');
  });

  it('refuses a bundle over MAX_COMPILED_BYTES with COMPILE_ERROR', async () => {
    // A TypeScript enum compiles to about six times its source.
    const members: string[] = [];
    let size = HEAD.length + 40;
    for (let i = 0; size < MAX_SOURCE_BYTES - 20; i++) {
      const m = `a${i.toString(36)},`;
      members.push(m);
      size += m.length;
    }
    const { err } = await refused(`${HEAD}export enum E { ${members.join('')} }\n`);
    expect(err.message).toMatch(new RegExp(`over ${MAX_COMPILED_BYTES} bytes`));
  });

  it('still compiles every first-party block as source', async () => {
    const root = fileURLToPath(new URL('../../../blocks/', import.meta.url));
    const names = readdirSync(root);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const text = readFileSync(`${root}${name}/src/index.ts`, 'utf8');
      expect((await compileSource(text)).code.length, name).toBeGreaterThan(0);
    }
  });
});
