import { ErrorCodes, TributaryError } from '@tributary/protocol';
import type { RetentionOptions } from './types.js';

/** Default retained entries per channel. */
export const DEFAULT_MAX_LENGTH = 1000;
/** Default maximum age of retained entries: 24 hours. */
export const DEFAULT_MAX_AGE_MS = 24 * 60 * 60 * 1000;
/** Default window in which a repeated `msgId` is recognised as a duplicate: 2 minutes. */
export const DEFAULT_DEDUP_WINDOW_MS = 2 * 60 * 1000;
/** Reads return at most this many entries whatever the caller asks. */
export const MAX_READ_LIMIT = 10_000;

/** Options every engine shares. */
export interface EngineOptions {
  retention?: RetentionOptions;
  /**
   * How long a `msgId` is remembered for idempotent publish, in milliseconds.
   * @defaultValue 120_000
   */
  dedupWindowMs?: number;
}

/** Engine options with every default filled in. */
export interface ResolvedEngineOptions {
  maxLength: number;
  maxAgeMs: number;
  dedupWindowMs: number;
}

/** Validates engine options once, at the boundary, naming the bad field. */
export function resolveEngineOptions(options: EngineOptions = {}): ResolvedEngineOptions {
  const maxLength = options.retention?.maxLength ?? DEFAULT_MAX_LENGTH;
  const maxAgeMs = options.retention?.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  const dedupWindowMs = options.dedupWindowMs ?? DEFAULT_DEDUP_WINDOW_MS;
  positiveInt('retention.maxLength', maxLength);
  positiveInt('retention.maxAgeMs', maxAgeMs);
  positiveInt('dedupWindowMs', dedupWindowMs);
  return { maxLength, maxAgeMs, dedupWindowMs };
}

/** Configuration mistakes are programming errors: a TypeError naming the field. */
export function positiveInt(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`${field} must be a positive integer, got ${String(value)}`);
  }
}

/** Clamps a read limit to [1, MAX_READ_LIMIT]. */
export function clampLimit(limit: number): number {
  return Math.max(1, Math.min(MAX_READ_LIMIT, Math.floor(limit)));
}

/** The error engines throw when their store cannot be reached. */
export function unavailable(message: string, cause?: unknown): TributaryError {
  return new TributaryError(ErrorCodes.UNAVAILABLE, message, { cause });
}
