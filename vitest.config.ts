import { defineConfig } from 'vitest/config';

// One project per package so `pnpm --filter <pkg> test` and `vitest --project <name>` run a slice.
// Integration tests (test/*.int.test.ts) spawn real redis-server and broker processes, so they get
// generous timeouts; unit tests keep vitest's defaults.
const pkgs = ['protocol', 'engine', 'broker', 'client', 'cli', 'testkit', 'runtime', 'block'];

export default defineConfig({
  test: {
    projects: pkgs.map((name) => ({
      extends: true,
      test: {
        name,
        root: `packages/${name}`,
        include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
        testTimeout: 30_000,
        hookTimeout: 60_000,
      },
    })),
  },
});
