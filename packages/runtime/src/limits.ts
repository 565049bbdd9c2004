import { BlockError, BlockErrorCodes } from './errors.js';

/** Limits of one block, with every default filled in. */
export interface ResolvedLimits {
  /**
   * V8 heap, MiB: the block's budget for all its concurrency lanes together. Each lane's isolate gets
   * `memoryMb / concurrency` (see {@link laneLimits}); in a sandbox's own limits, that lane's share.
   */
  memoryMb: number;
  /** CPU time one invocation may use, ms; also the bound of top-level code in each lane's isolate. */
  cpuMs: number;
  /** Wall time one invocation may take, including awaited host calls, ms. */
  wallMs: number;
  /** Host calls (publish, kv, fetch, …) one invocation may make. */
  callsPerInvocation: number;
  /** Publishes per second, per block on one runner (a token bucket holding one second's worth). */
  publishesPerSecond: number;
  /**
   * Whether block code may use `WebAssembly`. Off by default: WebAssembly memory lives outside the
   * V8 heap, and isolated-vm's memory limit does not count it.
   */
  wasm: boolean;
}

type NumericLimit = 'memoryMb' | 'cpuMs' | 'wallMs' | 'callsPerInvocation' | 'publishesPerSecond';
const NUMERIC: readonly NumericLimit[] = ['memoryMb', 'cpuMs', 'wallMs', 'callsPerInvocation', 'publishesPerSecond'];

/** Defaults for every block; a block's `limits` may lower them or raise them up to the caps. */
export const DEFAULT_LIMITS: Readonly<ResolvedLimits> = Object.freeze({
  memoryMb: 32,
  cpuMs: 100,
  wallMs: 5_000,
  callsPerInvocation: 50,
  publishesPerSecond: 1_000,
  wasm: false,
});

/** Before-publish blocks sit on the publish path: their wall time defaults much tighter. */
export const DEFAULT_BEFORE_PUBLISH_WALL_MS = 100;

/** The most a block may ask for. */
export const MAX_LIMITS: Readonly<Omit<ResolvedLimits, 'wasm'>> = Object.freeze({
  memoryMb: 256,
  cpuMs: 5_000,
  wallMs: 60_000,
  callsPerInvocation: 1_000,
  publishesPerSecond: 10_000,
});

/** The smallest heap isolated-vm accepts, MiB: each concurrency lane needs at least this much of `memoryMb`. */
export const MIN_LANE_MEMORY_MB = 8;

/**
 * Limits of the load that reads a bundle's definition before its own limits are known (the deploy's
 * first look, and `prepare`): the default heap, and 1 s for its top-level code. The block's lanes
 * then run that top level again under its own limits.
 */
export const LOAD_LIMITS: Readonly<ResolvedLimits> = Object.freeze({ ...DEFAULT_LIMITS, cpuMs: 1_000, wallMs: 1_000 });

/**
 * Merges a block's requested limits over the defaults, clamped to the caps. A limit of the wrong
 * type is an INVALID_BLOCK naming the field, and so is a `memoryMb` too small to give each of
 * `concurrency` lanes {@link MIN_LANE_MEMORY_MB}.
 */
export function resolveLimits(requested: unknown, beforePublish: boolean, concurrency = 1): ResolvedLimits {
  const bad = (msg: string): never => {
    throw new BlockError(BlockErrorCodes.INVALID_BLOCK, msg);
  };
  if (requested !== undefined && (typeof requested !== 'object' || requested === null || Array.isArray(requested))) {
    bad('limits must be an object');
  }
  const req = (requested ?? {}) as Record<string, unknown>;
  const out: ResolvedLimits = { ...DEFAULT_LIMITS, wallMs: beforePublish ? DEFAULT_BEFORE_PUBLISH_WALL_MS : DEFAULT_LIMITS.wallMs };
  for (const k of NUMERIC) {
    const v = req[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) bad(`limits.${k} must be a positive number`);
    out[k] = Math.max(1, Math.min(Math.floor(v as number), MAX_LIMITS[k]));
  }
  if (req.wasm !== undefined && typeof req.wasm !== 'boolean') bad('limits.wasm must be true or false');
  out.wasm = req.wasm === true;
  // isolated-vm refuses heaps under 8 MiB.
  out.memoryMb = Math.max(MIN_LANE_MEMORY_MB, out.memoryMb);
  if (Math.floor(out.memoryMb / concurrency) < MIN_LANE_MEMORY_MB) {
    bad(
      `limits.memoryMb is the budget of all the block's lanes together: concurrency ${concurrency} needs limits.memoryMb ≥ ${
        concurrency * MIN_LANE_MEMORY_MB
      } (${MIN_LANE_MEMORY_MB} MiB per lane; got ${out.memoryMb})`,
    );
  }
  return out;
}

/** The limits of one of `concurrency` lanes: an equal share of the block's `memoryMb`, the rest as they are. */
export function laneLimits(limits: ResolvedLimits, concurrency: number): ResolvedLimits {
  return { ...limits, memoryMb: Math.floor(limits.memoryMb / Math.max(1, concurrency)) };
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
 * Over it, the invocation fails with RESULT_TOO_LARGE. Also the default of the runner's
 * `maxPayloadBytes`, which bounds `ctx.publish` data (and replaces this cap for results).
 */
export const MAX_RESULT_CHARS = 64 * 1024;

/** Largest result of a request block (its whole `{ status, headers, body }` as JSON): 1 MiB, as a request body. */
export const MAX_REQUEST_RESULT_CHARS = 1024 * 1024;

/**
 * Largest `ctx.kv` value (a string, characters), checked inside the isolate before the value is
 * copied out, and again by the host. Over it, the call rejects with PAYLOAD_TOO_LARGE.
 */
export const MAX_KV_VALUE_CHARS = 64 * 1024;

/**
 * Largest `ctx.fetch` request body (a string, characters): 1 MiB, as the response cap. Checked
 * inside the isolate before the body is copied out; over it, the call rejects with PAYLOAD_TOO_LARGE.
 */
export const MAX_FETCH_BODY_CHARS = 1024 * 1024;

/**
 * Largest arguments of any one host call (their JSON, characters): the largest field a call may
 * carry (a fetch body) and 64 KiB for the rest (URL, headers, channel, key, module arguments). A
 * runner whose `maxPayloadBytes` is larger raises it to that + 64 KiB. Checked inside the isolate;
 * over it, the call rejects with PAYLOAD_TOO_LARGE and nothing of it is copied out.
 */
export const MAX_HOST_ARGS_CHARS = MAX_FETCH_BODY_CHARS + 64 * 1024;

/** Longest error message a failed invocation reports; the rest is cut inside the isolate. */
export const MAX_ERROR_CHARS = 4096;
