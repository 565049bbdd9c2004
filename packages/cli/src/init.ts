import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { parse, UsageError } from './args.js';

export const initHelp = `tributary init block <name> [--dir DIR]

Scaffolds a TypeScript block in DIR/<name> (default DIR: ./blocks): block.json, src/index.ts, a unit
test that runs it in the production sandbox (@tributary/runtime/testing), and a README.
In your own project: cd blocks/<name> && npm install && npm test; then tributary deploy blocks/<name>.
Inside the Tributary repository the block joins the workspace instead (pnpm install, then
pnpm vitest run --project blocks/<name>).`;

const NAME = /^[a-z][a-z0-9-]{0,62}$/;

/** This CLI's version: a block project made outside the repository depends on the same release. */
const VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/**
 * Whether `folder` lies inside the Tributary repository (a pnpm workspace holding
 * packages/block): there a block is a workspace package; anywhere else it is a project of its own.
 */
function inTributaryWorkspace(folder: string): boolean {
  for (let dir = resolve(folder); ; dir = dirname(dir)) {
    const block = join(dir, 'packages', 'block', 'package.json');
    if (existsSync(join(dir, 'pnpm-workspace.yaml')) && existsSync(block)) {
      return (JSON.parse(readFileSync(block, 'utf8')) as { name?: string }).name === '@tributary/block';
    }
    if (dirname(dir) === dir) return false;
  }
}

/** package.json (and, for a project of its own, tsconfig.json) of a new block. */
function projectFiles(name: string, workspace: boolean): Record<string, string> {
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  if (workspace) {
    return {
      'package.json': json({
        name: `@tributary-blocks/${name}`,
        version: '0.1.0',
        private: true,
        type: 'module',
        scripts: { test: `vitest run --root ../.. --project blocks/${name}`, typecheck: 'tsc -p ../../tsconfig.json --noEmit' },
        dependencies: { '@tributary/block': 'workspace:*' },
        devDependencies: { '@tributary/runtime': 'workspace:*' },
      }),
    };
  }
  return {
    'package.json': json({
      name,
      version: '0.1.0',
      private: true,
      type: 'module',
      scripts: { test: 'vitest run', typecheck: 'tsc --noEmit' },
      dependencies: { '@tributary/block': `^${VERSION}` },
      devDependencies: { '@tributary/runtime': `^${VERSION}`, '@types/node': '^20.19.0', typescript: '~5.9.0', vitest: '^3.2.0' },
    }),
    'tsconfig.json': json({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
      },
      include: ['src', 'test'],
    }),
  };
}

export async function init(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { dir: { type: 'string' } });
  const [kind, name, ...rest] = positionals;
  if (kind !== 'block' || name === undefined || rest.length > 0) throw new UsageError('usage: init block <name>');
  if (!NAME.test(name)) throw new UsageError(`block names are lowercase letters, digits and dashes (got ${name})`);
  const folder = join(values.dir ?? 'blocks', name);
  if (existsSync(folder)) throw new UsageError(`${folder} already exists`);
  const workspace = inTributaryWorkspace(folder);
  await mkdir(join(folder, 'src'), { recursive: true });
  await mkdir(join(folder, 'test'), { recursive: true });
  const files: Record<string, string> = {
    ...projectFiles(name, workspace),
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
    'README.md': readme(name, workspace),
  };
  for (const [file, text] of Object.entries(files)) await writeFile(join(folder, file), text);
  const next = workspace ? `pnpm install && pnpm vitest run --project blocks/${name}` : `cd ${folder} && npm install && npm test`;
  process.stdout.write(`created ${folder}: ${Object.keys(files).join(', ')}\nnext: ${next}\n`);
  return 0;
}

/** The new block's README: how to test, run and deploy it, in the way its home project works. */
function readme(name: string, workspace: boolean): string {
  const steps = workspace
    ? [
        `- Test (in the production sandbox): \`pnpm vitest run --project blocks/${name}\``,
        '- Run locally: `pnpm start` loads every folder under blocks/ with a block.json',
        `- Deploy to a running broker: \`pnpm tributary deploy blocks/${name}\``,
        `- Logs: \`pnpm tributary logs ${name}\``,
      ]
    : [
        '- Test (in the production sandbox): `npm install && npm test`',
        '- Run locally: `npx tributary start --insecure` (with `@tributary/cli` installed) loads every folder under ./blocks with a block.json',
        `- Deploy to a running broker: \`npx tributary deploy blocks/${name}\` (\`TRIBUTARY_URL\`, \`TRIBUTARY_TOKEN\` say where and as whom)`,
        `- Logs: \`npx tributary logs ${name}\``,
      ];
  return `# ${name}

A Tributary block. Trigger: after-publish on \`greetings.in\`; publishes to \`greetings.out\`.

${steps.join('\n')}

Triggers, modules and limits: docs/BLOCKS.md in the Tributary repository.
`;
}
