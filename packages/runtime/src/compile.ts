import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { build, stop, type BuildOptions, type Message } from 'esbuild';
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

/** How long one compile may take before esbuild's service is stopped and the compile fails. */
export const COMPILE_TIMEOUT_MS = 10_000;

/** Options of {@link compileSource}. */
export interface CompileOptions {
  /** @defaultValue {@link COMPILE_TIMEOUT_MS} */
  timeoutMs?: number;
}

/** esbuild's messages when its service process is gone (crashed, killed, or stopped by us). */
const SERVICE_GONE = /service (was stopped|is no longer running)/i;

/**
 * Compiles run one at a time: esbuild has one service process per host process, and the only way to
 * end a runaway compile is to stop that process, which must not fail someone else's compile.
 */
let queue: Promise<unknown> = Promise.resolve();

/**
 * Runs esbuild with the shared settings; its errors become COMPILE_ERROR with file:line:col. A
 * compile that outlives `timeoutMs` stops esbuild's service (the next compile starts a new one).
 * A service that is found dead, or dies during the compile, is replaced and the compile tried once
 * more (esbuild cannot tell whether it died before or because of this source); a second death is a
 * COMPILE_ERROR, and the next compile again gets a new service.
 */
function bundle(options: BuildOptions, timeoutMs = COMPILE_TIMEOUT_MS): Promise<CompiledBlock> {
  const run = queue.then(async () => {
    try {
      return await bundleOnce(options, timeoutMs);
    } catch (err) {
      if (!(err instanceof BlockError) || !SERVICE_GONE.test(err.message)) throw err;
      return bundleOnce(options, timeoutMs);
    }
  });
  queue = run.catch(() => {});
  return run;
}

async function bundleOnce(options: BuildOptions, timeoutMs: number): Promise<CompiledBlock> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  let result;
  try {
    result = await Promise.race([
      build({ ...BUNDLE_OPTIONS, ...options, write: false }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          // The only way to end a compile: stop the service (the next build starts a new one).
          void stop();
          reject(new BlockError(BlockErrorCodes.COMPILE_ERROR, `compile timed out after ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]);
  } catch (err) {
    if (err instanceof BlockError) throw err;
    const errors = (err as { errors?: Message[] }).errors ?? [];
    const text = errors.length > 0 ? errors.map(formatMessage).join('\n') : (err as Error).message;
    if (!timedOut && SERVICE_GONE.test(text)) {
      // Dead now: make the next build start a new service instead of failing on this one forever.
      await stop();
      throw new BlockError(BlockErrorCodes.COMPILE_ERROR, /was stopped/i.test(text)
        ? `the compiler crashed on this source (${text})` : `the compiler was not running (${text})`, { cause: err });
    }
    throw new BlockError(BlockErrorCodes.COMPILE_ERROR, text, { cause: err });
  } finally {
    clearTimeout(timer);
  }
  const code = result.outputFiles?.[0]?.text ?? '';
  return { code, version: versionOf(code) };
}

/** Largest source text {@link compileSource} takes. */
export const MAX_SOURCE_BYTES = 1024 * 1024;

/**
 * Deepest bracket nesting (`(`, `[`, `{`) {@link compileSource} takes. esbuild parses nesting by
 * recursion: a source of half a million `(` crashed its service process, and every later compile
 * failed until restart. Real code nests a few dozen levels.
 */
export const MAX_SOURCE_NESTING = 256;

/**
 * The deepest bracket nesting in `source`, counting brackets anywhere (also in strings and comments:
 * a cheap, conservative scan that stops as soon as it passes `limit`).
 */
function nestingOver(source: string, limit: number): boolean {
  let depth = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (c === 40 || c === 91 || c === 123) {
      if (++depth > limit) return true;
    } else if ((c === 41 || c === 93 || c === 125) && depth > 0) depth--;
  }
  return false;
}

/**
 * Bundles one block given as source text (what the console's deploy box posts). The text may import
 * `@tributary/block` and nothing else: it arrives over HTTP, and letting it import relative paths
 * would let whoever holds the admin secret bundle files of the broker's machine into a block.
 * Errors are COMPILE_ERROR with `block.ts:line:column: message`; so are a source over
 * {@link MAX_SOURCE_BYTES} or nested deeper than {@link MAX_SOURCE_NESTING}, and a compile over its
 * timeout.
 */
export async function compileSource(source: string, loader: 'ts' | 'js' = 'ts', options: CompileOptions = {}): Promise<CompiledBlock> {
  // Bounded before esbuild sees it (see MAX_SOURCE_NESTING).
  if (Buffer.byteLength(source) > MAX_SOURCE_BYTES) {
    throw new BlockError(BlockErrorCodes.COMPILE_ERROR, `source is over ${MAX_SOURCE_BYTES} bytes`);
  }
  if (nestingOver(source, MAX_SOURCE_NESTING)) {
    throw new BlockError(BlockErrorCodes.COMPILE_ERROR, `source has brackets nested deeper than ${MAX_SOURCE_NESTING}`);
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
  }, options.timeoutMs);
}

/** The version of a bundle: the first 12 hex digits of its SHA-256. */
export function versionOf(code: string): string {
  return createHash('sha256').update(code).digest('hex').slice(0, 12);
}

function formatMessage(m: Message): string {
  const loc = m.location;
  return loc === null ? m.text : `${loc.file}:${loc.line}:${loc.column + 1}: ${m.text}`;
}
