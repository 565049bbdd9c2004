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

/**
 * What one invocation may log, enforced inside the isolate (so an oversized string is cut before it
 * is copied out): lines past `linesPerInvocation`, or past `charsPerInvocation` characters of
 * messages and fields in all, are dropped and counted; a message, or the JSON of a line's fields,
 * longer than `lineChars` characters is cut and marked `…[cut: N chars]`.
 */
export const LOG_LIMITS = Object.freeze({
  linesPerInvocation: 100,
  charsPerInvocation: 64 * 1024,
  lineChars: 8 * 1024,
});

/** What one block may log per second on one runner, across its invocations and lanes. */
export interface LogBudget {
  /** @defaultValue 200 */
  linesPerSecond: number;
  /** Characters of messages and fields. @defaultValue 262_144 */
  charsPerSecond: number;
}

/** Defaults of {@link LogBudget}. */
export const DEFAULT_LOG_BUDGET: Readonly<LogBudget> = Object.freeze({ linesPerSecond: 200, charsPerSecond: 256 * 1024 });

/**
 * Largest result (characters of its JSON) a handler may return, checked inside the isolate: the
 * broker's default payload limit (64 KiB), as a before-publish result becomes the stored message.
 * Over it, the invocation fails with RESULT_TOO_LARGE.
 */
export const MAX_RESULT_CHARS = 64 * 1024;

/** Largest result of a request block (its whole `{ status, headers, body }` as JSON): 1 MiB, as a request body. */
export const MAX_REQUEST_RESULT_CHARS = 1024 * 1024;

/** Longest error message a failed invocation reports; the rest is cut inside the isolate. */
export const MAX_ERROR_CHARS = 4096;
