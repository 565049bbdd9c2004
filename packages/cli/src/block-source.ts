import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BlockError, compileBlock, type BlockManifest } from '@tributary/runtime';
import { UsageError } from './args.js';

/** A block bundled on this machine, ready to send to a broker (`deploy`, `replay`). */
export interface LocalBlock {
  code: string;
  config: Record<string, unknown>;
}

/**
 * Bundles `target` (a block.ts, or a block folder read through its block.json: entry, config) with
 * esbuild, as the broker would; `configFlag` (JSON text) replaces the manifest's config. A compile
 * error prints as file:line:col and resolves undefined (exit 1); a bad target or flag is a UsageError.
 */
export async function bundleLocalBlock(target: string, configFlag: string | undefined): Promise<LocalBlock | undefined> {
  if (!existsSync(target)) throw new UsageError(`${target} does not exist`);
  let entry = target;
  let config: Record<string, unknown> = {};
  if (statSync(target).isDirectory()) {
    const manifest = JSON.parse(await readFile(join(target, 'block.json'), 'utf8')) as BlockManifest;
    entry = join(target, manifest.entry ?? 'src/index.ts');
    config = manifest.config ?? {};
  }
  if (configFlag !== undefined) {
    try {
      config = JSON.parse(configFlag) as Record<string, unknown>;
    } catch {
      throw new UsageError('--config must be a JSON object');
    }
  }
  try {
    return { code: (await compileBlock(entry)).code, config };
  } catch (err) {
    if (err instanceof BlockError) {
      process.stderr.write(`compile failed:\n${err.message}\n`);
      return undefined;
    }
    throw err;
  }
}
