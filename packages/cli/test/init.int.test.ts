import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testBlock } from '@tributary/runtime/testing';
import { describe, expect, it } from 'vitest';
import { run } from './cli.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const CLI_VERSION = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version as string;

describe('tributary init block', () => {
  it('scaffolds a block whose code runs in the sandbox and does what its own test expects', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tributary-init-'));
    const r = await run(['init', 'block', 'hello-world', '--dir', dir]);
    expect(r).toMatchObject({ code: 0, stdout: expect.stringContaining('created') });
    for (const f of ['package.json', 'tsconfig.json', 'block.json', 'src/index.ts', 'test/index.test.ts', 'README.md']) {
      expect(existsSync(join(dir, 'hello-world', f))).toBe(true);
    }
    // Outside this repository the block is a project of its own, on the release this CLI belongs to.
    const pkg = JSON.parse(await readFile(join(dir, 'hello-world', 'package.json'), 'utf8'));
    expect(pkg.dependencies).toEqual({ '@tributary/block': `^${CLI_VERSION}` });
    expect(pkg.devDependencies).toMatchObject({ '@tributary/runtime': `^${CLI_VERSION}`, vitest: expect.any(String) });
    expect(pkg.scripts.test).toBe('vitest run');
    const test = await readFile(join(dir, 'hello-world', 'test/index.test.ts'), 'utf8');
    expect(test).toContain("from '@tributary/runtime/testing'");
    const block = await testBlock(join(dir, 'hello-world', 'src/index.ts'), { config: { greeting: 'hi' } });
    try {
      const out = await block.run({ data: { who: 'ada' } });
      expect(out.published).toEqual([{ channel: 'greetings.out', data: { text: 'hi, ada!', count: 1 }, hops: 1 }]);
    } finally {
      await block.close();
    }
    expect(await run(['init', 'block', 'hello-world', '--dir', dir])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('already exists'),
    });
    expect(await run(['init', 'block', 'Bad Name', '--dir', dir])).toMatchObject({ code: 2 });
  });

  it('inside this repository, makes a workspace package that the workspace tests', async () => {
    const dir = await mkdtemp(join(REPO, 'node_modules', '.tributary-init-'));
    try {
      expect(await run(['init', 'block', 'inside', '--dir', dir])).toMatchObject({ code: 0 });
      const pkg = JSON.parse(await readFile(join(dir, 'inside', 'package.json'), 'utf8'));
      expect(pkg.dependencies).toEqual({ '@tributary/block': 'workspace:*' });
      expect(pkg.scripts.test).toContain('--project blocks/inside');
      expect(existsSync(join(dir, 'inside', 'tsconfig.json'))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
