import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { build, type BuildOptions, type Message } from 'esbuild';
import { BlockError, BlockErrorCodes } from './errors.js';

/** A bundled block, ready to load into an isolate. */
export interface CompiledBlock {
  /** One script (IIFE) that sets `__tributaryBlock`. */
  code: string;
  /** Content hash of `code`: the block's version. */
  version: string;
}

// createRequire rather than import.meta.resolve: the latter is missing under vitest's transform.
const BLOCK_PACKAGE = createRequire(import.meta.url).resolve('@tributary/block');

/**
 * Bundles a block's entry file (TypeScript or JavaScript) and its imports into one script with
 * esbuild. Blocks run in a bare V8 isolate, so the platform is 'neutral': an import of a Node
 * built-in or an unresolvable package is a compile error, reported as `file:line:column: message`.
 */
export async function compileBlock(entry: string): Promise<CompiledBlock> {
  return bundle({
    entryPoints: [entry],
    // Blocks outside this workspace still resolve the author API to this copy.
    alias: { '@tributary/block': BLOCK_PACKAGE },
  });
}

/** esbuild settings every block bundle shares: one IIFE script for a bare V8 isolate. */
const BUNDLE_OPTIONS = {
  bundle: true,
  write: false,
  format: 'iife',
  globalName: '__tributaryBlock',
  platform: 'neutral',
  target: 'es2022',
  mainFields: ['module', 'main'],
  logLevel: 'silent',
  legalComments: 'none',
  charset: 'utf8',
} as const satisfies BuildOptions;

/** Runs esbuild with the shared settings; its errors become COMPILE_ERROR with file:line:col. */
async function bundle(options: BuildOptions): Promise<CompiledBlock> {
  let result;
  try {
    result = await build({ ...BUNDLE_OPTIONS, ...options, write: false });
  } catch (err) {
    const errors = (err as { errors?: Message[] }).errors ?? [];
    const text = errors.length > 0 ? errors.map(formatMessage).join('\n') : (err as Error).message;
    throw new BlockError(BlockErrorCodes.COMPILE_ERROR, text, { cause: err });
  }
  const code = result.outputFiles[0]?.text ?? '';
  return { code, version: versionOf(code) };
}

/** Largest source text {@link compileSource} takes. */
export const MAX_SOURCE_BYTES = 1024 * 1024;

/**
 * Bundles one block given as source text (what the console's deploy box posts). The text may import
 * `@tributary/block` and nothing else: it arrives over HTTP, and letting it import relative paths
 * would let whoever holds the admin secret bundle files of the broker's machine into a block.
 * Errors are COMPILE_ERROR with `block.ts:line:column: message`.
 */
export async function compileSource(source: string, loader: 'ts' | 'js' = 'ts'): Promise<CompiledBlock> {
  if (Buffer.byteLength(source) > MAX_SOURCE_BYTES) {
    throw new BlockError(BlockErrorCodes.COMPILE_ERROR, `source is over ${MAX_SOURCE_BYTES} bytes`);
  }
  const blockDir = dirname(BLOCK_PACKAGE);
  // esbuild names the stdin module resolveDir/sourcefile: that importer gets only the author API.
  const sourcefile = `block.${loader}`;
  const stdinPath = join(blockDir, sourcefile);
  return bundle({
    stdin: { contents: source, loader, sourcefile, resolveDir: blockDir },
    plugins: [{
      name: 'only-block-api',
      setup(b) {
        b.onResolve({ filter: /.*/ }, (args) => {
          if (args.path === '@tributary/block') return { path: BLOCK_PACKAGE };
          // The author API's own relative imports, if it ever has some.
          if (args.importer !== stdinPath && args.importer.startsWith(blockDir)) return undefined;
          return { errors: [{ text: `a block deployed as source may import only @tributary/block, not ${args.path}` }] };
        });
      },
    }],
  });
}

/** The version of a bundle: the first 12 hex digits of its SHA-256. */
export function versionOf(code: string): string {
  return createHash('sha256').update(code).digest('hex').slice(0, 12);
}

function formatMessage(m: Message): string {
  const loc = m.location;
  return loc === null ? m.text : `${loc.file}:${loc.line}:${loc.column + 1}: ${m.text}`;
}
