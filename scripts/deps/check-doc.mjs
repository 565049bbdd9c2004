// Fails when the layer table in docs/ARCHITECTURE.md ("Packages and layers") and the layers
// dependency-cruiser enforces (scripts/deps/layers.cjs) disagree: the picture is checked, not hoped for.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const { LAYERS } = createRequire(import.meta.url)('./layers.cjs');
const doc = readFileSync(new URL('../../docs/ARCHITECTURE.md', import.meta.url), 'utf8');
const section = doc.slice(doc.indexOf('## Packages and layers'));
const block = section.slice(section.indexOf('```') + 3, section.indexOf('```', section.indexOf('```') + 3));
const documented = {};
let layer;
for (const line of block.split('\n')) {
  const m = /^(?:layer (\d+) +| {9})([a-z][a-z-]*)(?: {2,}|$)/.exec(line);
  if (m === null) continue;
  if (m[1] !== undefined) layer = Number(m[1]);
  documented[m[2]] = layer;
}
const problems = [];
for (const [pkg, l] of Object.entries(LAYERS)) {
  if (documented[pkg] === undefined) problems.push(`${pkg} (layer ${l}) is missing from the table`);
  else if (documented[pkg] !== l) problems.push(`${pkg} is on layer ${documented[pkg]} in the table but ${l} in scripts/deps/layers.cjs`);
}
for (const pkg of Object.keys(documented))
  if (LAYERS[pkg] === undefined) problems.push(`${pkg} is in the table but not in scripts/deps/layers.cjs`);
if (problems.length > 0) {
  console.error(`docs/ARCHITECTURE.md's layer table disagrees with scripts/deps/layers.cjs:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`✔ docs/ARCHITECTURE.md's layer table matches the ${Object.keys(LAYERS).length} layered packages`);
