import type { BlockLimits } from '@tributary/block';

/** Limits of one block, with every default filled in. */
export interface ResolvedLimits {
  /** V8 heap of the block's isolate, MiB. */
  memoryMb: number;
  /** CPU time one invocation may use, ms. */
  cpuMs: number;
  /** Wall time one invocation may take, including awaited host calls, ms. */
  wallMs: number;
  /** Host calls (publish, kv, fetch, …) one invocation may make. */
  callsPerInvocation: number;
}

/** Defaults for every block; a block's `limits` may lower them or raise them up to the caps. */
export const DEFAULT_LIMITS: Readonly<ResolvedLimits> = Object.freeze({
  memoryMb: 32,
  cpuMs: 100,
  wallMs: 5_000,
  callsPerInvocation: 50,
});

/** Before-publish blocks sit on the publish path: their wall time defaults much tighter. */
export const DEFAULT_BEFORE_PUBLISH_WALL_MS = 100;

/** The most a block may ask for. */
export const MAX_LIMITS: Readonly<ResolvedLimits> = Object.freeze({
  memoryMb: 256,
  cpuMs: 5_000,
  wallMs: 60_000,
  callsPerInvocation: 1_000,
});

/** Merges a block's requested limits over the defaults, clamped to the caps. */
export function resolveLimits(requested: BlockLimits | undefined, beforePublish: boolean): ResolvedLimits {
  const base = { ...DEFAULT_LIMITS, wallMs: beforePublish ? DEFAULT_BEFORE_PUBLISH_WALL_MS : DEFAULT_LIMITS.wallMs };
  const out = { ...base };
  for (const k of Object.keys(base) as Array<keyof ResolvedLimits>) {
    const v = requested?.[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new TypeError(`limits.${k} must be a positive number`);
    out[k] = Math.min(Math.floor(v), MAX_LIMITS[k]);
  }
  // isolated-vm refuses heaps under 8 MiB.
  out.memoryMb = Math.max(8, out.memoryMb);
  return out;
}
