import type { BlockInfo } from '@tributary/runtime';
import { brokerUrl, parse, tokenOf, UsageError } from './args.js';
import { bundleLocalBlock } from './block-source.js';
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
  const block = await bundleLocalBlock(target, values.config);
  if (block === undefined) return 1;
  const info = await api<BlockInfo>(brokerUrl(values.url), '/v1/admin/blocks', tokenOf(values.token), {
    method: 'POST',
    body: JSON.stringify(block),
  });
  process.stdout.write(`deployed ${info.name}@${info.version} (${JSON.stringify(info.trigger)})\n`);
  return 0;
}
