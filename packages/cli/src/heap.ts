import { setFlagsFromString } from 'node:v8';

/**
 * V8 flags `tributary start` sets in the broker's process, before it serves.
 *
 * `--no-allocation-site-pretenuring`: V8 watches where objects are allocated, and once most of
 * what one allocation site makes survives a young-generation collection, it allocates that site's
 * objects directly in the old generation from then on. A broker's per-message objects (frames,
 * promises, Redis replies) survive a collection whenever traffic queues for a moment — a burst, a
 * saturated second — and the sites stay pretenured after it passes: at any load their objects then
 * land in the old generation and die there, left to full collections. Traced on the traffic-shape
 * benchmark (docs/OPERATIONS.md, "Tuning the garbage collector"): young-generation pauses summed
 * 30 % less on per-device and wildcard traffic, and the heap grew about a fifth as much between
 * them; no change on the fan-out shapes.
 */
export const BROKER_V8_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring'];

/**
 * Applies {@link BROKER_V8_FLAGS} to this process. V8 reads this flag at each collection, so set
 * at startup it holds for everything the broker allocates.
 */
export function tuneHeap(): void {
  for (const flag of BROKER_V8_FLAGS) setFlagsFromString(flag);
}
