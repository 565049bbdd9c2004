import { ImageError, ImageErrorCodes } from './errors.js';
import type { ImageLimits } from './limits.js';
import type { Raster } from './raster.js';
import type { ResizeStep, Step } from './spec.js';

// The checks made between passes, from sizes alone: a step's output is refused before libvips
// allocates it, so a small input cannot grow past the limits by its steps.

/** The size a resize step will produce (estimate within 1 px), to check limits before it runs. */
export function projectResize(s: ResizeStep, w: number, h: number): [number, number] {
  const W = s.width;
  const H = s.height;
  switch (s.mode) {
    case 'scale':
      return [W ?? Math.round((w * (H as number)) / h), H ?? Math.round((h * (W as number)) / w)];
    case 'fill':
    case 'pad':
      return [W as number, H as number];
    case 'fit':
    case 'limit': {
      let f = Math.min(W === undefined ? Infinity : W / w, H === undefined ? Infinity : H / h);
      if (s.mode === 'limit') f = Math.min(f, 1);
      return [Math.max(1, Math.round(w * f)), Math.max(1, Math.round(h * f))];
    }
  }
}

/** Refuses an animation whose frames hold more than `maxTotalPixels` together. */
export function checkTotalPixels(total: number, limits: ImageLimits): void {
  const max = limits.maxTotalPixels;
  if (total > max) {
    throw new ImageError(ImageErrorCodes.INPUT_TOO_LARGE, `input has ${total} px over all frames; the limit is ${max}`, {
      details: { limit: 'maxTotalPixels', value: total, max },
    });
  }
}

/** Refuses a step whose output would exceed the pixel limits, before allocating it. */
export function checkProjected(step: Step, r: Raster, limits: ImageLimits): void {
  let w = r.width;
  let h = r.height;
  if (step.op === 'resize') [w, h] = projectResize(step, r.width, r.height);
  else if (step.op === 'rotate' && step.angle % 90 !== 0) w = h = r.width + r.height;
  if (w * h > limits.maxPixels || w * h * r.frames.length > limits.maxTotalPixels) {
    throw new ImageError(
      ImageErrorCodes.INPUT_TOO_LARGE,
      `step ${step.op} would make ${w}×${h} px frames; the limit is ${limits.maxPixels} px`,
      {
        details: { limit: 'maxPixels', value: w * h, max: limits.maxPixels },
      },
    );
  }
}
