import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testBlock } from '@tributary/runtime/testing';
import { describe, expect, it } from 'vitest';
import { run } from './cli.js';

describe('tributary init block', () => {
  it('scaffolds a block whose code runs in the sandbox and does what its own test expects', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tributary-init-'));
    const r = await run(['init', 'block', 'hello-world', '--dir', dir]);
    expect(r).toMatchObject({ code: 0, stdout: expect.stringContaining('created') });
    for (const f of ['package.json', 'block.json', 'src/index.ts', 'test/index.test.ts', 'README.md']) {
      expect(existsSync(join(dir, 'hello-world', f))).toBe(true);
    }
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
});
