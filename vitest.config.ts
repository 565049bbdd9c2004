import { existsSync, readdirSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// One project per workspace package (packages/*, blocks/*, examples/*, scripts/bench), named after its folder, so
// `vitest --project <name>` runs a slice. Integration tests (test/*.int.test.ts) spawn real
// redis-server and broker processes, so every project gets generous timeouts.
const roots = ['packages', 'blocks', 'examples'].flatMap((top) =>
  existsSync(top)
    ? readdirSync(top, { withFileTypes: true })
        .filter((d) => d.isDirectory() && existsSync(`${top}/${d.name}/package.json`))
        .map((d) => ({ name: top === 'packages' ? d.name : `${top}/${d.name}`, root: `${top}/${d.name}` }))
    : [],
);
// The benchmarks' own arithmetic (scripts/bench/lib) is tested too: a wrong statistic would misreport every run.
roots.push({ name: 'bench', root: 'scripts/bench' });

export default defineConfig({
  test: {
    reporters: ['default', './scripts/summary-reporter.ts'],
    projects: roots.map(({ name, root }) => ({
      extends: true,
      test: {
        name,
        root,
        include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'lib/**/*.test.ts'],
        testTimeout: 30_000,
        hookTimeout: 60_000,
      },
    })),
  },
});
