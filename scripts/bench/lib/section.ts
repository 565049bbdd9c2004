import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** BENCHMARKS.md at the repository root. */
export const BENCHMARKS_FILE = fileURLToPath(new URL('../../../BENCHMARKS.md', import.meta.url));

/**
 * Replaces the text between `begin` and `end` (markers included, `section` carries its own) in
 * `file`, or appends the section when the markers are not there yet. Each benchmark owns one
 * section, so rerunning one leaves the others' numbers alone.
 */
export function replaceSection(begin: string, end: string, section: string, file = BENCHMARKS_FILE): void {
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const a = old.indexOf(begin);
  const b = old.indexOf(end);
  writeFileSync(
    file,
    a >= 0 && b > a ? old.slice(0, a) + section + old.slice(b + end.length) : `${old.replace(/\n*$/, '')}\n\n${section}\n`,
  );
}
