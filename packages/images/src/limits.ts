import { availableParallelism } from 'node:os';

/** Limits applied to every input, checked from the header before any pixel is decoded. */
export interface ImageLimits {
  /** Largest input, bytes. @defaultValue 26_214_400 (25 MiB) */
  maxInputBytes: number;
  /** Largest frame (and largest intermediate or output frame), pixels. @defaultValue 50_000_000 */
  maxPixels: number;
  /** Most frames of an animated input. @defaultValue 200 */
  maxFrames: number;
  /**
   * Largest width × height × frames of an animated input or output. An animation kept animated is
   * decoded to raw RGBA frames and each step makes a new set, so a transform holds about 12 bytes
   * per pixel at its peak: 50 MP is about 600 MB, the same order as one still image at `maxPixels`.
   * (At 250 MP, a 391 KB GIF of 200 frames of 1118×1118 took 3 GB.) Checked only for an animation that
   * is kept animated; a transform to a still format decodes the first frame alone. @defaultValue 50_000_000
   */
  maxTotalPixels: number;
  /** Wall time of one transform (all passes, and any wait for a slot), ms; sharp's own timeout is set from it too. @defaultValue 30_000 */
  timeoutMs: number;
  /**
   * Transforms that run at once; more wait for a slot, in arrival order. Two per core keep every
   * core busy through the serial parts of a transform (hand-offs, callbacks); beyond that, more
   * only hold memory (a 50 MP decode is hundreds of MB) and crowd the libuv thread pool that file
   * reads and writes share with libvips. @defaultValue 2 × os.availableParallelism()
   */
  maxConcurrent: number;
  /**
   * Animations kept animated that are decoded and transformed at once; more wait for their turn
   * without holding a slot of `maxConcurrent`. Each holds up to about 12 bytes per pixel of
   * `maxTotalPixels` at its peak, so this bounds what a burst of hostile animated uploads can take:
   * about 600 MB at the defaults, not `maxConcurrent` times that. Still images do not wait for it.
   * @defaultValue 1
   */
  maxConcurrentAnimations: number;
}

/** The limits used for every field not given. */
export const DEFAULT_IMAGE_LIMITS: Readonly<ImageLimits> = Object.freeze({
  maxInputBytes: 25 * 1024 * 1024,
  maxPixels: 50_000_000,
  maxFrames: 200,
  maxTotalPixels: 50_000_000,
  timeoutMs: 30_000,
  maxConcurrent: 2 * availableParallelism(),
  maxConcurrentAnimations: 1,
});

/** Fills in and validates limits, naming the bad field. */
export function resolveImageLimits(l: Partial<ImageLimits> = {}): ImageLimits {
  const r = { ...DEFAULT_IMAGE_LIMITS, ...l };
  for (const k of Object.keys(DEFAULT_IMAGE_LIMITS) as (keyof ImageLimits)[]) {
    if (!Number.isSafeInteger(r[k]) || r[k] <= 0) throw new TypeError(`limits.${k} must be a positive integer, got ${String(r[k])}`);
  }
  return r;
}
