// Builds every published package to its dist/ (ESM JavaScript, .d.ts, source maps with their
// sources inline) with TypeScript project references: `tsc -b` builds each package after the
// packages it imports and skips what is up to date. The workspace itself never needs this: it runs
// from TypeScript source (see docs/PACKAGES.md).
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { PUBLISHED } from './packages.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Builds the published packages; throws with tsc's output when the build fails. */
export function build() {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const projects = PUBLISHED.map((name) => `packages/${name}/tsconfig.build.json`);
  execFileSync(process.execPath, [tsc, '-b', ...projects], { cwd: ROOT, stdio: 'inherit' });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) build();
