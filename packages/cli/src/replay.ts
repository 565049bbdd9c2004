import type { ReplayReport, ReplayResult } from '@tributary/runtime';
import { brokerUrl, intOption, parse, tokenOf, UsageError } from './args.js';
import { bundleLocalBlock } from './block-source.js';
import { api } from './http.js';
import { printable } from './printable.js';

export const replayHelp = `tributary replay <block.ts | block-folder> --from CHANNEL [--since OFFSET|TIME] [--limit N]
                 [--into PREFIX] [--config JSON] [--json] [--url URL] [--token SECRET]

Bundles the block as deploy does and runs that version, without deploying it, in the broker's
sandbox (runner processes, the block's own limits) over CHANNEL's retained history: the messages
after OFFSET, or stored at or after TIME (ISO 8601, e.g. 2026-12-07T10:00:00Z), at most N (default
100, at most 1000; without --since the latest N). For each input it prints what this version would
publish beside what the deployed version did publish for it (found through lineage), as a diff:
"-" only the deployed version, "+" only this one. Nothing is written to live channels; with --into
the outputs are also published under PREFIX (<PREFIX>.<channel>), with lineage to their inputs.
kv writes stay in memory; log lines are dropped. Needs the broker secret. --json prints the reply.`;

/** One output as the reply lists it (a deployed one has its offset). */
type Output = ReplayResult['outputs'][number] | ReplayResult['deployed'][number];

export async function replay(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    from: { type: 'string' },
    since: { type: 'string' },
    limit: { type: 'string' },
    into: { type: 'string' },
    config: { type: 'string' },
    json: { type: 'boolean' },
    url: { type: 'string' },
    token: { type: 'string' },
  });
  const [target, ...rest] = positionals;
  if (target === undefined || rest.length > 0) throw new UsageError('replay takes one <block.ts | block-folder>');
  if (values.from === undefined) throw new UsageError('replay needs --from <channel>');
  const limit = intOption('limit', values.limit, 1);
  const block = await bundleLocalBlock(target, values.config);
  if (block === undefined) return 1;
  const body: Record<string, unknown> = { ...block, from: values.from };
  if (values.since !== undefined) body.since = values.since;
  if (limit !== undefined) body.limit = limit;
  if (values.into !== undefined) body.into = values.into;
  const r = await api<ReplayReport>(brokerUrl(values.url), '/v1/admin/replay', tokenOf(values.token), {
    method: 'POST',
    body: JSON.stringify(body),
  });
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return 0;
  }
  const out = (line: string): boolean => process.stdout.write(`${line}\n`);
  out(`replay ${r.block}@${r.version} over ${values.from}${values.into === undefined ? '' : ` (outputs published under ${values.into}.)`}`);
  for (const x of r.results) {
    const head = `${x.input.channel}#${x.input.offset} ${JSON.stringify(x.input.data)}`;
    if (x.same) {
      out(`= ${head}: same (${x.outputs.length} output${x.outputs.length === 1 ? '' : 's'})`);
      continue;
    }
    out(`≠ ${head}`);
    if (x.error !== undefined) out(`  ! ${x.error.code}: ${printable(x.error.message)}`);
    for (const line of diff(x.deployed, x.outputs)) out(`  ${line}`);
  }
  out(`${r.summary.inputs} inputs, ${r.summary.outputs} outputs, ${r.summary.differing} differing`);
  return 0;
}

/** Lines of a diff of two output lists, as multisets of channel and data: " " both, "-" deployed only, "+" replayed only. */
function diff(deployed: readonly Output[], replayed: readonly Output[]): string[] {
  const key = (o: Output): string => `${o.channel} ${JSON.stringify(o.data)}`;
  const left = new Map<string, number>();
  for (const o of replayed) left.set(key(o), (left.get(key(o)) ?? 0) + 1);
  const lines: string[] = [];
  for (const o of deployed) {
    const k = key(o);
    const n = left.get(k) ?? 0;
    if (n > 0) {
      left.set(k, n - 1);
      lines.push(`  ${k}`);
    } else {
      lines.push(`- ${k}`);
    }
  }
  const used = new Map<string, number>();
  for (const o of deployed) used.set(key(o), (used.get(key(o)) ?? 0) + 1);
  for (const o of replayed) {
    const k = key(o);
    const n = used.get(k) ?? 0;
    if (n > 0) used.set(k, n - 1);
    else lines.push(`+ ${k}`);
  }
  return lines;
}
