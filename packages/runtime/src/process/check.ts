import { BlockErrorCodes } from '../errors.js';
import type { FromRunner, WireError } from './messages.js';

/**
 * The node's check of what a runner sends. A runner is trusted with nothing: the isolates in it run
 * hostile code, and code that escaped one could write anything to the pipe. Every message is checked
 * for its shape before the node acts on it; ids that name no live invocation are ignored where they
 * are read (a late answer is normal), so this only has to refuse what no honest runner sends.
 */

const CODES = new Set<string>(Object.values(BlockErrorCodes));
/** An error message a runner reports: the isolate cuts them at MAX_ERROR_CHARS; room for its prefix. */
const MAX_WIRE_MESSAGE_CHARS = 8192;
/** Host call operations are short names (`publish`, `kv.get`, `module:images.transform` …). */
const MAX_OP_CHARS = 256;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isCount = isId;

function isWireError(v: unknown): v is WireError {
  return (
    isObject(v) &&
    typeof v.code === 'string' &&
    CODES.has(v.code) &&
    typeof v.message === 'string' &&
    v.message.length <= MAX_WIRE_MESSAGE_CHARS
  );
}

/** `m` as a {@link FromRunner}, or a reason why no honest runner would have sent it. */
export function checkFromRunner(m: unknown): FromRunner | string {
  if (!isObject(m) || typeof m.t !== 'string') return 'a message that is not an object with a type';
  switch (m.t) {
    case 'ready':
      return isId(m.pid) ? (m as FromRunner) : 'a ready without a pid';
    case 'beat':
      return isCount(m.rss) ? (m as FromRunner) : 'a heartbeat without a resident size';
    case 'loaded':
      if (!isId(m.sb) || !isCount(m.copied)) return 'a load answer without its ids';
      if (m.ok === true) return isObject(m.description) ? (m as FromRunner) : 'a load answer without a description';
      return m.ok === false && isWireError(m.error) ? (m as FromRunner) : 'a failed load without a known error';
    case 'result':
      if (!isId(m.inv) || !isCount(m.copied) || !isCount(m.coldStarts)) return 'a result without its ids';
      // A handler that returned undefined has no `value` once through JSON.
      if (m.ok === true) return m as FromRunner;
      return m.ok === false && isWireError(m.error) ? (m as FromRunner) : 'a failed result without a known error';
    case 'cold':
      return isId(m.inv) && isCount(m.coldStarts) ? (m as FromRunner) : 'a cold start without its ids';
    case 'skipped':
      return isId(m.inv) ? (m as FromRunner) : 'a skipped invocation without its id';
    case 'call':
      return isId(m.inv) && isId(m.call) && typeof m.op === 'string' && m.op.length <= MAX_OP_CHARS
        ? (m as FromRunner)
        : 'a host call without its ids or operation';
    default:
      return `a message of unknown type ${JSON.stringify(m.t.slice(0, 32))}`;
  }
}
