import { beforeAll, describe, expect, it } from 'vitest';
import * as client from '../src/index.js';
import {
  CLIENT_DIR,
  CLIENT_ENTRY,
  ENTRY_NAME,
  ESBUILD_VERSION,
  GZIP_LEVEL,
  measureBrowserBundle,
  type BrowserBundle,
} from './browser-bundle.js';

/**
 * The client's budget for browsers (issue #22, README "Size in browsers"): its whole public API,
 * bundled for browsers and minified, is at most 8 KiB gzipped, and carries no runtime dependency —
 * only the client's and the protocol's `./wire` source.
 */
const BUDGET_BYTES = 8 * 1024;

/** The inputs that put the most bytes into the bundle, for a failure message. */
function heaviest(b: BrowserBundle, n = 8): string {
  return Object.entries(b.output.inputs)
    .sort((x, y) => y[1].bytesInOutput - x[1].bytesInOutput)
    .slice(0, n)
    .map(([path, { bytesInOutput }]) => `  ${bytesInOutput} B  ${path}`)
    .join('\n');
}

describe('browser bundle of @tributary/client', () => {
  let bundle: BrowserBundle;
  beforeAll(async () => {
    bundle = await measureBrowserBundle(CLIENT_ENTRY, CLIENT_DIR);
    console.log(
      `@tributary/client browser bundle (\`${CLIENT_ENTRY}\`, esbuild ${ESBUILD_VERSION}): ` +
        `${bundle.minBytes} B minified, ${bundle.gzipBytes} B min+gzip -${GZIP_LEVEL} (budget ${BUDGET_BYTES} B)`,
    );
  });

  it('builds without warnings', () => {
    expect(bundle.warnings).toEqual([]);
  });

  it('exports the whole public API (nothing was tree-shaken away before measuring)', () => {
    expect([...bundle.output.exports].sort()).toEqual(Object.keys(client).sort());
  });

  it(`is at most ${BUDGET_BYTES} bytes minified and gzipped`, () => {
    expect(
      bundle.gzipBytes,
      `the client's browser bundle is ${bundle.gzipBytes} B min+gzip, over its budget of ${BUDGET_BYTES} B ` +
        `(${bundle.minBytes} B minified); largest inputs:\n${heaviest(bundle)}`,
    ).toBeLessThanOrEqual(BUDGET_BYTES);
  });

  it('contains only the client and the protocol wire code: no ws, no ajv, no other package', () => {
    const foreign = Object.keys(bundle.output.inputs).filter(
      (path) => path !== ENTRY_NAME && !/^packages\/(client|protocol)\/src\//.test(path),
    );
    expect(foreign, `inputs from outside the client and protocol source: ${foreign.join(', ')}`).toEqual([]);
    const protocol = Object.keys(bundle.output.inputs).filter((path) => path.startsWith('packages/protocol/src/'));
    // schema.ts holds the JSON Schemas and imports ajv; only servers validate frames with it.
    expect(protocol).not.toContain('packages/protocol/src/schema.ts');
  });

  it('leaves nothing for the browser to load: no external, node: or bare imports', () => {
    expect(bundle.output.imports).toEqual([]);
    expect(bundle.code).not.toMatch(/\bfrom\s*["']|\brequire\(|["']node:/);
    // The one dynamic import left is the `ws` fallback of transport.ts, by a computed name, taken
    // only where there is no global WebSocket (Node before 22), so never in a browser.
    const dynamic = [...bundle.code.matchAll(/\bimport\((.)/g)].map((m) => m[1]);
    expect(dynamic).toHaveLength(1);
    expect(dynamic[0]).not.toMatch(/["'`]/);
  });
});
