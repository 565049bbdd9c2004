import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, UsageError } from './args.js';

export const initHelp = `tributary init block <name> [--dir DIR]

Scaffolds a TypeScript block in DIR/<name> (default DIR: ./blocks): block.json, src/index.ts,
a unit test that runs it in the production sandbox (@tributary/runtime/testing), and a README.
Then: pnpm install && pnpm vitest run --project blocks/<name>; pnpm tributary deploy blocks/<name>.`;

const NAME = /^[a-z][a-z0-9-]{0,62}$/;

export async function init(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { dir: { type: 'string' } });
  const [kind, name, ...rest] = positionals;
  if (kind !== 'block' || name === undefined || rest.length > 0) throw new UsageError('usage: init block <name>');
  if (!NAME.test(name)) throw new UsageError(`block names are lowercase letters, digits and dashes (got ${name})`);
  const folder = join(values.dir ?? 'blocks', name);
  if (existsSync(folder)) throw new UsageError(`${folder} already exists`);
  await mkdir(join(folder, 'src'), { recursive: true });
  await mkdir(join(folder, 'test'), { recursive: true });
  const files: Record<string, string> = {
    'package.json': `${JSON.stringify(
      {
        name: `@tributary-blocks/${name}`,
        version: '0.1.0',
        private: true,
        type: 'module',
        scripts: { test: `vitest run --root ../.. --project blocks/${name}`, typecheck: 'tsc -p ../../tsconfig.json --noEmit' },
        dependencies: { '@tributary/block': 'workspace:*' },
        devDependencies: { '@tributary/runtime': 'workspace:*' },
      },
      null,
      2,
    )}\n`,
    'block.json': `${JSON.stringify({ entry: 'src/index.ts', config: { greeting: 'hello' } }, null, 2)}\n`,
    'src/index.ts': `import { defineBlock } from '@tributary/block';

/** Answers every message on greetings.in with a greeting on greetings.out. */
export default defineBlock({
  name: '${name}',
  trigger: { afterPublish: 'greetings.in' },
  publishes: ['greetings.out'],
  async handle(msg, ctx) {
    const { who } = msg.data as { who?: string };
    const count = await ctx.kv.incr('greeted');
    ctx.log.info('greeting', { who: who ?? 'world', count });
    await ctx.publish('greetings.out', { text: \`\${String(ctx.config.greeting)}, \${who ?? 'world'}!\`, count });
  },
});
`,
    'test/index.test.ts': `import { fileURLToPath } from 'node:url';
import { testBlock } from '@tributary/runtime/testing';
import { describe, expect, it } from 'vitest';

const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url));

describe('${name}', () => {
  it('greets whoever asks, counting in kv', async () => {
    const block = await testBlock(entry, { config: { greeting: 'hi' } });
    try {
      const run = await block.run({ data: { who: 'ada' } });
      expect(run.error).toBeUndefined();
      expect(run.published).toEqual([{ channel: 'greetings.out', data: { text: 'hi, ada!', count: 1 }, hops: 1 }]);
      expect(await block.kv('greeted')).toBe('1');
    } finally {
      await block.close();
    }
  });
});
`,
    'README.md': `# ${name}

A Tributary block. Trigger: after-publish on \`greetings.in\`; publishes to \`greetings.out\`.

- Test (in the production sandbox): \`pnpm vitest run --project blocks/${name}\`
- Run locally: \`pnpm start\` loads every folder under blocks/ with a block.json
- Deploy to a running broker: \`pnpm tributary deploy blocks/${name}\`
- Logs: \`pnpm tributary logs ${name}\`

See docs/BLOCKS.md for triggers, modules and limits.
`,
  };
  for (const [file, text] of Object.entries(files)) await writeFile(join(folder, file), text);
  process.stdout.write(
    `created ${folder}: block.json, src/index.ts, test/index.test.ts, README.md\n` +
      `next: pnpm install && pnpm vitest run --project blocks/${name}\n`,
  );
  return 0;
}
