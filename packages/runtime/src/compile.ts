import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { build, type Message } from 'esbuild';
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
  let result;
  try {
    result = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      format: 'iife',
      globalName: '__tributaryBlock',
      platform: 'neutral',
      target: 'es2022',
      mainFields: ['module', 'main'],
      // Blocks outside this workspace still resolve the author API to this copy.
      alias: { '@tributary/block': BLOCK_PACKAGE },
      logLevel: 'silent',
      legalComments: 'none',
      charset: 'utf8',
    });
  } catch (err) {
    const errors = (err as { errors?: Message[] }).errors ?? [];
    const text = errors.length > 0 ? errors.map(formatMessage).join('\n') : (err as Error).message;
    throw new BlockError(BlockErrorCodes.COMPILE_ERROR, text, { cause: err });
  }
  const code = result.outputFiles[0]?.text ?? '';
  return { code, version: versionOf(code) };
}

/** The version of a bundle: the first 12 hex digits of its SHA-256. */
export function versionOf(code: string): string {
  return createHash('sha256').update(code).digest('hex').slice(0, 12);
}

function formatMessage(m: Message): string {
  const loc = m.location;
  return loc === null ? m.text : `${loc.file}:${loc.line}:${loc.column + 1}: ${m.text}`;
}
