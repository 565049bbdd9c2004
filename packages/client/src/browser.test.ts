import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The client must load in browsers: no Node built-ins on its module graph, and `ws` only through
// the dynamic import taken when there is no global WebSocket. test/bundle-size.test.ts checks the
// same on an actual browser bundle.
const dir = dirname(fileURLToPath(import.meta.url));
const sources = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));

describe('browser safety', () => {
  it.each(sources)('%s imports no Node built-ins and no ws statically', (file) => {
    const text = readFileSync(join(dir, file), 'utf8');
    const imports = [...text.matchAll(/^\s*(?:import|export)[^'"]*from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
    for (const spec of imports) {
      expect(spec, `${file} imports ${spec}`).toMatch(/^(\.\/|@tributary\/protocol\/wire$)/);
    }
    expect(text).not.toMatch(/\bprocess\.|\bBuffer\b|require\(/);
  });

  it('loads ws only dynamically, by a computed name a bundler does not follow', () => {
    const text = readFileSync(join(dir, 'transport.ts'), 'utf8');
    expect(text).toContain("await importByName('ws')");
    expect(text).not.toMatch(/import\(\s*['"`]ws/);
  });
});
