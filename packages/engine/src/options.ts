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
/** Default cap of distinct patterns followed at once through one engine. */
export const DEFAULT_MAX_PATTERNS = 10_000;

/**
 * Told about an exception thrown (or a promise rejected) by a follow or presence listener, with the
 * channel of the entry or change it was handling. It must not throw.
 */
export type ListenerErrorHandler = (err: unknown, channel: string) => void;

/** Options every engine shares. */
export interface EngineOptions {
  retention?: RetentionOptions;
  /**
   * How long a `msgId` is remembered for idempotent publish, in milliseconds.
   * @defaultValue 120_000
   */
  dedupWindowMs?: number;
  /**
   * How many distinct patterns may be followed at once (however many listeners share each);
   * `followPattern` of one more rejects with LIMIT_EXCEEDED. Matching an entry costs nothing per
   * non-matching pattern, but each pattern holds memory (and, on Redis, one PSUBSCRIBE).
   * @defaultValue 10_000
   */
  maxPatterns?: number;
  /**
   * Receives a listener's exception instead of letting it become an uncaught exception (which
   * would end the process); delivery to other listeners and later entries goes on regardless.
   * @defaultValue logs with `console.error`
   */
  onListenerError?: ListenerErrorHandler;
}

/** Engine options with every default filled in. */
export interface ResolvedEngineOptions {
  maxLength: number;
  maxAgeMs: number;
  dedupWindowMs: number;
  maxPatterns: number;
  onListenerError: ListenerErrorHandler;
}

/** Validates engine options once, at the boundary, naming the bad field. */
export function resolveEngineOptions(options: EngineOptions = {}): ResolvedEngineOptions {
  const maxLength = options.retention?.maxLength ?? DEFAULT_MAX_LENGTH;
  const maxAgeMs = options.retention?.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  const dedupWindowMs = options.dedupWindowMs ?? DEFAULT_DEDUP_WINDOW_MS;
  const maxPatterns = options.maxPatterns ?? DEFAULT_MAX_PATTERNS;
  const onListenerError = options.onListenerError ?? logListenerError;
  positiveInt('retention.maxLength', maxLength);
  positiveInt('retention.maxAgeMs', maxAgeMs);
  positiveInt('dedupWindowMs', dedupWindowMs);
  positiveInt('maxPatterns', maxPatterns);
  if (typeof onListenerError !== 'function') throw new TypeError(`onListenerError must be a function, got ${String(onListenerError)}`);
  return { maxLength, maxAgeMs, dedupWindowMs, maxPatterns, onListenerError };
}

/** The default {@link ListenerErrorHandler}: the engine has no logger of its own. */
function logListenerError(err: unknown, channel: string): void {
  console.error(`tributary engine: a listener failed on channel ${channel}:`, err);
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

/** The error of a `followPattern` that would exceed `maxPatterns` distinct patterns. */
export function patternLimit(pattern: string, max: number): TributaryError {
  return new TributaryError(
    ErrorCodes.LIMIT_EXCEEDED,
    `at most ${max} distinct patterns may be followed (maxPatterns); refused ${pattern}`,
  );
}
