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

/**
 * True when GIF or WebP bytes hold more than one frame, read from the container alone (no decode):
 * a WebP's VP8X header has an animation flag (RIFF container spec, "Extended File Format"), and a
 * GIF is walked block by block (GIF89a §§ 17–27) until a second image descriptor. On-the-fly URLs ask
 * this before choosing a format for `auto`, where a libvips header pass would be a thread-pool round
 * trip; it is remembered per source version, so each source is looked at once per node.
 */
export function isAnimated(b: Uint8Array): boolean {
  if (b.length >= 21 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') {
    return ascii(b, 12, 16) === 'VP8X' && ((b[20] as number) & 0x02) !== 0;
  }
  if (b.length >= 13 && ascii(b, 0, 3) === 'GIF') return gifFrames(b, 2) >= 2;
  return false;
}

/**
 * Frames of a GIF or an animated WebP, counted from the container (GIF image descriptors, WebP ANMF
 * chunks), up to `stop`; 1 for anything else. Used where no libvips probe was made.
 */
export function countFrames(b: Uint8Array, stop = Number.POSITIVE_INFINITY): number {
  if (b.length >= 13 && ascii(b, 0, 3) === 'GIF') return Math.max(1, gifFrames(b, stop));
  if (b.length >= 21 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP' && isAnimated(b)) {
    // RIFF chunks: a FourCC, a little-endian size, the data padded to an even length.
    let frames = 0;
    for (let i = 12; i + 8 <= b.length && frames < stop; ) {
      if (ascii(b, i, i + 4) === 'ANMF') frames++;
      const size = (b[i + 4] as number) | ((b[i + 5] as number) << 8) | ((b[i + 6] as number) << 16) | ((b[i + 7] as number) * 2 ** 24);
      i += 8 + size + (size & 1);
    }
    return Math.max(1, frames);
  }
  return 1;
}

const ascii = (b: Uint8Array, start: number, end: number): string => String.fromCharCode(...b.subarray(start, end));

/** Image descriptors in a GIF, counted up to `stop`; a structure it cannot follow ends the count. */
function gifFrames(b: Uint8Array, stop: number): number {
  let i = 13;
  const flags = b[10] as number;
  if (flags & 0x80) i += 3 * 2 ** ((flags & 0x07) + 1); // global colour table
  const subBlocks = (at: number): number => {
    let j = at;
    while (j < b.length) {
      const n = b[j] as number;
      j += 1 + n;
      if (n === 0) return j;
    }
    return -1;
  };
  let frames = 0;
  while (i < b.length && frames < stop) {
    const introducer = b[i];
    if (introducer === 0x21) i = subBlocks(i + 2);
    else if (introducer === 0x2c) {
      frames++;
      if (i + 10 > b.length) break;
      const local = b[i + 9] as number;
      i += 10;
      if (local & 0x80) i += 3 * 2 ** ((local & 0x07) + 1);
      i = subBlocks(i + 1);
    } else break; // the trailer (0x3B), or bytes this walk does not understand
    if (i === -1) break;
  }
  return frames;
}
