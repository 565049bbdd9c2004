import type { ListenerErrorHandler } from './options.js';

/**
 * Calls a follow or presence listener so that its failure stays its own: a throw, or a rejection of
 * a promise it returns, goes to `report` instead of becoming an uncaught exception, which would end
 * the process (and, with it, every other connection on the node). Callers go on with the next
 * listener and the next entry.
 */
export function callListener<T>(listener: (value: T) => unknown, value: T, channel: string, report: ListenerErrorHandler): void {
  try {
    const r = listener(value);
    if (isThenable(r)) r.then(undefined, (err: unknown) => reportSafely(report, err, channel));
  } catch (err) {
    reportSafely(report, err, channel);
  }
}

/** A throwing handler must not undo the point of having one. */
function reportSafely(report: ListenerErrorHandler, err: unknown, channel: string): void {
  try {
    report(err, channel);
  } catch (again) {
    console.error(`tributary engine: onListenerError failed on channel ${channel}:`, again, 'handling', err);
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
