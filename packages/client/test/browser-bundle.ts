/**
 * How a browser bundle is measured, in one place: the client's budget test (bundle-size.test.ts) and
 * the comparison with socket.io-client, centrifuge and ably (scripts/bench/bundle-size.ts) both call
 * {@link measureBrowserBundle}, so the numbers in BENCHMARKS.md and the number CI checks are made the
 * same way.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** An import esbuild recorded (`--metafile`). */
export interface MetafileImport {
  path: string;
  kind: string;
  external?: boolean;
}

/** The part of esbuild's metafile the measurements read. */
export interface Metafile {
  inputs: Record<string, { bytes: number; imports: MetafileImport[] }>;
  outputs: Record<
    string,
    { bytes: number; inputs: Record<string, { bytesInOutput: number }>; imports: MetafileImport[]; exports: string[] }
  >;
}

/** The part of esbuild's API used here. */
interface Esbuild {
  version: string;
  build(options: Record<string, unknown>): Promise<{
    outputFiles: Array<{ contents: Uint8Array; text: string }>;
    metafile: Metafile;
    warnings: Array<{ text: string }>;
  }>;
}

// esbuild is a dependency of @tributary/runtime (it compiles blocks), not of the client, so neither
// its module nor its types resolve from here: it is loaded from the runtime package rather than added
// to the client's devDependencies for one test, and typed by the slice above.
const esbuild = createRequire(new URL('../../runtime/package.json', import.meta.url))('esbuild') as Esbuild;

/** The folder of the client package: where `@tributary/client` resolves (to its own source). */
export const CLIENT_DIR = fileURLToPath(new URL('..', import.meta.url));

/** The repository root: the metafile's paths are relative to it, whatever the current directory. */
const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** The metafile's name for the entry module, which esbuild reads from stdin rather than a file. */
export const ENTRY_NAME = '<stdin>';

/** The client's whole public API, as an application that imports it gets it: nothing to tree-shake away. */
export const CLIENT_ENTRY = "export * from '@tributary/client';";

/** The gzip level: the highest, as CDNs and bundle-size reports use for static assets. */
export const GZIP_LEVEL = 9;

/** The esbuild options every measured bundle is built with (besides its entry). */
export const BROWSER_BUILD_OPTIONS = {
  bundle: true,
  minify: true,
  platform: 'browser',
  format: 'esm',
} as const;

/** One measured bundle. */
export interface BrowserBundle {
  /** The minified JavaScript. */
  code: string;
  /** Minified size, bytes. */
  minBytes: number;
  /** Minified then gzipped at {@link GZIP_LEVEL}, bytes. */
  gzipBytes: number;
  /** esbuild's record of the inputs and outputs (`esbuild --metafile`). */
  metafile: Metafile;
  /** The one output in the metafile. */
  output: Metafile['outputs'][string];
  /** esbuild's warnings, as text. */
  warnings: string[];
}

/** The version of esbuild that builds the bundles. */
export const ESBUILD_VERSION: string = esbuild.version;

/**
 * Bundles `entry` (module source, resolved from `resolveDir`) for browsers with
 * {@link BROWSER_BUILD_OPTIONS} and measures it minified and gzipped.
 */
export async function measureBrowserBundle(entry: string, resolveDir: string): Promise<BrowserBundle> {
  const result = await esbuild.build({
    ...BROWSER_BUILD_OPTIONS,
    stdin: { contents: entry, resolveDir, loader: 'js' },
    absWorkingDir: REPO_ROOT,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  const output = Object.values(result.metafile.outputs)[0];
  if (file === undefined || output === undefined) throw new Error(`esbuild produced no output for ${entry}`);
  return {
    code: file.text,
    minBytes: file.contents.byteLength,
    gzipBytes: gzipSync(file.contents, { level: GZIP_LEVEL }).byteLength,
    metafile: result.metafile,
    output,
    warnings: result.warnings.map((w) => w.text),
  };
}
