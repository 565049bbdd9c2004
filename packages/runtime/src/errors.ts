import { CodedError } from '@tributary/protocol/wire';
import type { HttpErrorCode } from '@tributary/server';

/** Codes of block failures: what went wrong in an invocation or a deploy. */
export const BlockErrorCodes = {
  /** The source did not compile (message has file:line). */
  COMPILE_ERROR: 'COMPILE_ERROR',
  /** The bundle ran but did not export a valid defineBlock(...) definition. */
  INVALID_BLOCK: 'INVALID_BLOCK',
  /** The handler threw or rejected. */
  HANDLER_ERROR: 'HANDLER_ERROR',
  /** The isolate ran out of heap; it was disposed and will be recreated. */
  MEMORY_LIMIT: 'MEMORY_LIMIT',
  /** The invocation used more CPU time than allowed. */
  CPU_LIMIT: 'CPU_LIMIT',
  /** The invocation took longer than its wall time (e.g. a promise that never settles). */
  WALL_LIMIT: 'WALL_LIMIT',
  /** Too many host calls in one invocation. */
  CALL_LIMIT: 'CALL_LIMIT',
  /** A host call was refused (no grant, host not allow-listed, bad arguments). */
  HOST_REFUSED: 'HOST_REFUSED',
  /**
   * A publish was refused because the message passed through too many blocks (the broker's hop
   * limit, docs/PROTOCOL.md): a loop of blocks, or a chain longer than the limit.
   */
  HOP_LIMIT: 'HOP_LIMIT',
  /**
   * A publish past the block's `publishesPerSecond` (a token bucket per block on one runner): the
   * handler's `ctx.publish` rejects with this code; unhandled, the invocation fails with it.
   */
  RATE_LIMITED: 'RATE_LIMITED',
  /**
   * The handler's result (its JSON) is over the cap for its trigger; checked inside the isolate, so
   * the oversized value is never copied out.
   */
  RESULT_TOO_LARGE: 'RESULT_TOO_LARGE',
  /**
   * An argument of a host call is over its cap: a publish's data (the runner's `maxPayloadBytes`,
   * as JSON characters; or the broker's own byte check), a kv value, a fetch body, or any call's
   * arguments as JSON. Measured inside the isolate, so the oversized value is never copied out; the
   * call rejects with this code and, unhandled, the invocation fails with it.
   */
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** The handler returned something that is not valid for its trigger. */
  BAD_RESULT: 'BAD_RESULT',
  /** The runner stopped (closed, or the block was removed) while the invocation ran; it was cut off. */
  STOPPED: 'STOPPED',
  /**
   * The runner process hosting the block's isolate exited while the invocation ran (a V8 fatal error
   * such as an out-of-memory abort, a kill, or a restart for using more memory than its blocks
   * declared). Only that process's invocations are lost; an after-publish message is retried, then
   * dead-lettered, like any failure.
   */
  RUNNER_EXITED: 'RUNNER_EXITED',
  /**
   * No runner process could take the invocation within its wall time (its process was restarting).
   * A before-publish block fails closed with it: the publish is rejected.
   */
  RUNNER_UNAVAILABLE: 'RUNNER_UNAVAILABLE',
  // Every code has its HTTP status in @tributary/server's one table (httpStatusOf).
} as const satisfies Readonly<Record<string, HttpErrorCode>>;

export type BlockErrorCode = (typeof BlockErrorCodes)[keyof typeof BlockErrorCodes];

/**
 * A block failure with a code callers branch on. A {@link CodedError}, so its codes share the one
 * HTTP status table (`httpStatusOf`, @tributary/server); where a code is also a protocol code
 * (HOP_LIMIT, RATE_LIMITED, PAYLOAD_TOO_LARGE), what each means is in protocol's errors.ts.
 */
export class BlockError extends CodedError<BlockErrorCode> {
  override readonly name = 'BlockError';
  readonly block: string | undefined;

  constructor(code: BlockErrorCode, message: string, options?: { block?: string; cause?: unknown }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.block = options?.block;
  }
}
