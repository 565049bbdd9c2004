import { channelProblem, compilePattern } from '@tributary/protocol';
import { BlockError, BlockErrorCodes } from './errors.js';
import { resolveLimits } from './limits.js';
import type { BlockDescription } from './sandbox.js';

/** A block's trigger, normalised. */
export type NormalizedTrigger =
  | { kind: 'beforePublish'; patterns: string[] }
  | { kind: 'afterPublish'; patterns: string[] }
  | { kind: 'interval'; seconds: number }
  | { kind: 'request' };

/** A block definition after validation. */
export interface ValidBlock {
  name: string;
  trigger: NormalizedTrigger;
  publishes: string[];
  fetchAllow: string[];
  /** As declared; {@link resolveLimits} (already checked here) fills in the defaults. */
  limits: Record<string, unknown> | undefined;
  /** Invocations at once per runner, each in its own isolate (1: one at a time, in order). */
  concurrency: number;
}

/** What a block name must match: it is part of channel names (`$dlq.<name>`), URLs and kv namespaces. */
export const BLOCK_NAME = /^[a-z][a-z0-9-]{0,62}$/;
const NAME = BLOCK_NAME;

/** True when `name` is a valid block name ({@link BLOCK_NAME}). */
export function isBlockName(name: unknown): name is string {
  return typeof name === 'string' && BLOCK_NAME.test(name);
}
/** Most isolates one block may run at once on one runner. */
export const MAX_CONCURRENCY = 16;

/** Checks what a bundle declared in defineBlock; every problem is an INVALID_BLOCK naming the field. */
export function validateDescription(d: BlockDescription): ValidBlock {
  const bad = (msg: string): never => {
    throw new BlockError(BlockErrorCodes.INVALID_BLOCK, msg, { block: typeof d.name === 'string' ? d.name : undefined });
  };
  if (typeof d.name !== 'string' || !NAME.test(d.name)) bad(`name must match ${NAME} (got ${JSON.stringify(d.name)})`);
  const t = d.trigger;
  if (typeof t !== 'object' || t === null || Object.keys(t).length !== 1) {
    bad('trigger must have exactly one of beforePublish, afterPublish, interval, request');
  }
  const patterns = (v: unknown, field: string): string[] => {
    const list = Array.isArray(v) ? v : [v];
    if (list.length === 0) bad(`${field} needs at least one channel or pattern`);
    for (const p of list) {
      const problem = channelProblem(p, true);
      if (problem !== undefined) bad(`${field}: ${JSON.stringify(p)} ${problem}`);
    }
    return list as string[];
  };
  let trigger: NormalizedTrigger;
  if ('beforePublish' in t) trigger = { kind: 'beforePublish', patterns: patterns(t.beforePublish, 'trigger.beforePublish') };
  else if ('afterPublish' in t) trigger = { kind: 'afterPublish', patterns: patterns(t.afterPublish, 'trigger.afterPublish') };
  else if ('interval' in t) {
    const s = t.interval;
    if (typeof s !== 'number' || !Number.isFinite(s) || s < 1) bad('trigger.interval must be a number of seconds ≥ 1');
    trigger = { kind: 'interval', seconds: s as number };
  } else if ('request' in t && t.request === true) trigger = { kind: 'request' };
  else trigger = bad(`unknown trigger ${JSON.stringify(Object.keys(t))}`);
  if (trigger.kind === 'beforePublish') {
    // The platform writes system channels ($logs.<block>, $dlq.<block>, $blocks.deployed, …): a
    // before-publish block there could rewrite or refuse other blocks' log lines and dead letters.
    // Only a pattern whose first segment starts with `$` matches them (compilePattern).
    for (const p of trigger.patterns) {
      if (p.startsWith('$'))
        bad(`trigger.beforePublish: ${JSON.stringify(p)} is a system channel, which the platform writes and no block may intercept`);
    }
  }
  if (trigger.kind === 'afterPublish') {
    // Every line the block logged, or message it failed, would run it again: a loop outside any hop
    // count the block's own publishes carry. (Loops through other blocks' channels end at the hop
    // limit: log lines and dead letters carry hops.)
    const own = [
      [`$logs.${d.name}`, 'log'],
      [`$dlq.${d.name}`, 'dead-letter'],
    ] as const;
    for (const p of trigger.patterns) {
      for (const [channel, what] of own) {
        if (compilePattern(p)(channel))
          bad(
            `trigger.afterPublish: ${JSON.stringify(p)} matches ${channel}, the block's own ${what} channel: it would run on its own output forever`,
          );
      }
    }
  }
  const publishes = d.publishes === undefined ? [] : patterns(d.publishes, 'publishes');
  const fetchAllow = d.fetchAllow ?? [];
  if (!Array.isArray(fetchAllow) || !fetchAllow.every((h) => typeof h === 'string' && h.length > 0)) {
    bad('fetchAllow must be a list of host names');
  }
  const concurrency = d.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY) {
    bad(`concurrency must be an integer from 1 to ${MAX_CONCURRENCY}`);
  }
  try {
    // Types, and a memoryMb that gives each lane its minimum (INVALID_BLOCK naming the field).
    resolveLimits(d.limits, trigger.kind === 'beforePublish', concurrency);
  } catch (err) {
    bad((err as Error).message);
  }
  return { name: d.name, trigger, publishes, fetchAllow, limits: d.limits, concurrency };
}
