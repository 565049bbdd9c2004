import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const HERE = dirname(fileURLToPath(import.meta.url));
const entries = new Map<string, string>();

/**
 * The file a runner process (`child`) or a pool's launcher process (`launcher`) runs. A built package ships it as JavaScript beside this module. Run
 * from TypeScript source (the workspace), the runner is bundled once per node process with esbuild
 * (the runtime's own compiler) into one plain ES module: a runner then starts as fast as Node
 * does, with no TypeScript loader to boot in every process (measured: 1.1–1.9 s per start with
 * one on a loaded 2-core machine). Only isolated-vm stays external, resolved from this package.
 */
export function processEntry(name: 'child' | 'launcher'): string {
  const known = entries.get(name);
  if (known !== undefined) return known;
  const built = join(HERE, `${name}.js`);
  if (existsSync(built)) {
    entries.set(name, built);
    return built;
  }
  const out = buildSync({
    entryPoints: [join(HERE, `${name}.ts`)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['isolated-vm'],
    write: false,
    logLevel: 'silent',
  }).outputFiles[0];
  if (out === undefined) throw new Error('bundling the runner process produced nothing');
  // Named by content, under this package (so `isolated-vm` resolves from here): processes bundling
  // the same source at once write the same bytes, and the rename makes each write whole.
  const dir = join(HERE, '..', '..', 'node_modules', '.cache', 'tributary-runner');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${createHash('sha256').update(out.contents).digest('hex').slice(0, 16)}.mjs`);
  if (!existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, out.contents);
    renameSync(tmp, file);
  }
  entries.set(name, file);
  return file;
}

/** The file a runner process runs (see {@link processEntry}). */
export function runnerEntry(): string {
  return processEntry('child');
}
