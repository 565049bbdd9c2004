/**
 * The fixed moderate load of a traffic shape (shapes.ts): issue 21's 20,000 deliveries/s, unless
 * that would push the slowest system past `share` of its own saturation, in which case every system
 * gets that lower load instead (the same load for all, so their latencies compare).
 */
export function fixedLoad(
  /** Deliveries one message produced at saturation (the largest measured; churners in a room add to it). */
  deliveriesPerMessage: number,
  /** Deliveries/s each system reached at saturation on this shape. */
  saturations: readonly number[],
  target = 20_000,
  share = 0.5,
): { msgsPerSec: number; deliveriesPerSec: number; note: string } {
  const fan = deliveriesPerMessage > 0 && Number.isFinite(deliveriesPerMessage) ? deliveriesPerMessage : 1;
  const slowest = saturations.length === 0 ? Infinity : Math.min(...saturations);
  const cap = slowest * share;
  if (cap >= target) return { msgsPerSec: target / fan, deliveriesPerSec: target, note: '' };
  const deliveries = Math.max(fan, roundDown2(cap));
  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
  return {
    msgsPerSec: deliveries / fan,
    deliveriesPerSec: deliveries,
    note: `lowered from ${fmt(target)}: the slowest system reached ${fmt(slowest)} deliveries/s at saturation here, and this is at most ${Math.round(share * 100)} % of that`,
  };
}

/** Rounds down to two significant digits, so the report shows a plain number. */
export function roundDown2(x: number): number {
  if (!(x > 0)) return 0;
  const p = 10 ** (Math.floor(Math.log10(x)) - 1);
  return Math.floor(x / p) * p;
}

/**
 * How many messages a publisher of the fixed load should have sent `seconds` in, at `perSecond`.
 * Each publisher runs at its own phase (its key times the golden ratio, mod 1: even for any number
 * of publishers), as the devices of a real fleet are not synchronized. With one shared phase, every
 * publisher came due at the same instant, and the p99 measured the queue that burst made rather
 * than the system under a steady load.
 */
export function dueMessages(seconds: number, perSecond: number, key: number): number {
  return Math.floor(seconds * perSecond + ((key * 0.618_033_988_75) % 1));
}
