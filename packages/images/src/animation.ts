import type { Metadata } from 'sharp';
import type { ImageProbe } from './probe.js';
import type { ImageFormat } from './spec.js';

/** Output formats that carry an animation; any other output takes the first frame alone. */
const ANIMATABLE: ReadonlySet<ImageFormat> = new Set(['gif', 'webp']);

/** An input to be transformed as an animation: what its probe found, and the output format. */
export interface Animation {
  probe: ImageProbe;
  format: ImageFormat;
}

/** True when an input stays animated in `format` (and so is decoded as all its frames). */
export function keepsAnimation(probe: ImageProbe, format: ImageFormat): boolean {
  return probe.pages > 1 && ANIMATABLE.has(format);
}

/**
 * The loop count and frame delays an output of `pages` frames is encoded with, from the input's
 * metadata (none for a still image). Without them an animation would loop and time differently.
 */
export function animationOptions(meta: Metadata, pages: number): { loop?: number; delay?: number[] } {
  return pages > 1 ? { loop: meta.loop ?? 0, ...(meta.delay === undefined ? {} : { delay: meta.delay }) } : {};
}
