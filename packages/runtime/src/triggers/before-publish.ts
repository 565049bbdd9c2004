import { compilePattern, ErrorCodes, isSystemChannel, TributaryError, type JsonValue } from '@tributary/protocol';
import type { DeployedBlock } from '../deployed.js';
import { BlockError } from '../errors.js';
import { messageInput } from './input.js';

/** A publish as the broker's interceptor hook hands it over. */
export interface InterceptedPublish {
  channel: string;
  data: JsonValue;
  msgId?: string;
  hops?: number;
}

/** What the interceptor decides (the broker's InterceptResult). */
export type InterceptVerdict = undefined | { data: JsonValue } | { reject: string };

/**
 * The broker's before-publish hook over the deployed blocks: runs every matching before-publish
 * block, in name order. A block error, timeout or invalid result rejects the publish — never a
 * silent pass-through.
 */
export function beforePublishInterceptor(blocks: () => Iterable<DeployedBlock>) {
  const matching = (channel: string): DeployedBlock[] => {
    // The platform writes system channels ($logs, $dlq, …): no block may rewrite or refuse those
    // writes. Deploys refuse such triggers; this holds even for a block loaded some other way.
    if (isSystemChannel(channel)) return [];
    const out: DeployedBlock[] = [];
    for (const b of blocks()) {
      const t = b.def.trigger;
      if (t.kind === 'beforePublish' && t.patterns.some((p) => compilePattern(p)(channel))) out.push(b);
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  };
  return {
    name: 'blocks',
    matches: (channel: string): boolean => matching(channel).length > 0,
    intercept: async (req: InterceptedPublish): Promise<InterceptVerdict> => {
      let data = req.data;
      let changed = false;
      for (const b of matching(req.channel)) {
        const input = messageInput({
          channel: req.channel,
          offset: 0,
          epoch: '',
          time: Date.now(),
          data,
          msgId: req.msgId,
          hops: req.hops,
        });
        let result: unknown;
        try {
          result = await b.run(input, req.hops ?? 0);
        } catch (err) {
          const code = err instanceof BlockError ? err.code : 'HANDLER_ERROR';
          throw new TributaryError(ErrorCodes.REJECTED, `block ${b.name} failed (${code}): ${(err as Error).message}`, { cause: err });
        }
        if (result === null) continue;
        if (typeof result === 'object' && !Array.isArray(result) && 'reject' in result) {
          return { reject: `${b.name}: ${String((result as { reject: unknown }).reject)}` };
        }
        if (typeof result === 'object' && !Array.isArray(result) && 'data' in result) {
          data = (result as { data: JsonValue }).data;
          changed = true;
          continue;
        }
        throw new TributaryError(ErrorCodes.REJECTED, `block ${b.name} returned neither undefined, {data} nor {reject}`);
      }
      return changed ? { data } : undefined;
    },
  };
}
