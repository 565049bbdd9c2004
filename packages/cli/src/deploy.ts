import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BlockError, compileBlock, type BlockInfo, type BlockManifest } from '@tributary/runtime';
import { brokerUrl, parse, tokenOf, UsageError } from './args.js';
import { api } from './http.js';

export const deployHelp = `tributary deploy <block.ts | block-folder> [--config JSON] [--url URL] [--token SECRET]

Bundles the block locally (esbuild; compile errors print as file:line:col) and hot-deploys it to a
running broker, which swaps versions without dropping messages: if the new version fails to load,
the old one keeps running. A folder is read through its block.json (entry, config). Needs the
broker secret as --token (or TRIBUTARY_TOKEN) unless the broker runs --insecure.`;

export async function deploy(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { config: { type: 'string' }, url: { type: 'string' }, token: { type: 'string' } });
  const [target, ...rest] = positionals;
  if (target === undefined || rest.length > 0) throw new UsageError('deploy takes one <block.ts | block-folder>');
  if (!existsSync(target)) throw new UsageError(`${target} does not exist`);
  let entry = target;
  let config: Record<string, unknown> = {};
  if (statSync(target).isDirectory()) {
    const manifest = JSON.parse(await readFile(join(target, 'block.json'), 'utf8')) as BlockManifest;
    entry = join(target, manifest.entry ?? 'src/index.ts');
    config = manifest.config ?? {};
  }
  if (values.config !== undefined) {
    try {
      config = JSON.parse(values.config) as Record<string, unknown>;
    } catch {
      throw new UsageError('--config must be a JSON object');
    }
  }
  let code: string;
  try {
    code = (await compileBlock(entry)).code;
  } catch (err) {
    if (err instanceof BlockError) {
      process.stderr.write(`compile failed:\n${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const info = await api<BlockInfo>(brokerUrl(values.url), '/v1/admin/blocks', tokenOf(values.token), {
    method: 'POST',
    body: JSON.stringify({ code, config }),
  });
  process.stdout.write(`deployed ${info.name}@${info.version} (${JSON.stringify(info.trigger)})\n`);
  return 0;
}
