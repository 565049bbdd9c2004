/**
 * A decoded image: raw 8-bit frames of equal size (one for a still image). Steps run on these one
 * frame at a time, so every libvips operation sees one still image.
 */
export interface Raster {
  frames: Buffer[];
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

/** Cuts libvips' one tall strip of `pages` frames into a Raster (views, no copies). */
export function splitFrames(pixels: Buffer, width: number, height: number, channels: number, pages: number): Raster {
  const size = width * height * channels;
  const frames: Buffer[] = [];
  for (let i = 0; i < pages; i++) frames.push(pixels.subarray(i * size, (i + 1) * size));
  return { frames, width, height, channels: channels as Raster['channels'] };
}
