import type { Gravity, ImageFormat, Step, TransformSpec } from './spec.js';
import { canonicalSpec } from './spec.js';

// Cloudinary's gravity names (https://cloudinary.com/documentation/transformation_reference#g_gravity).
const GRAVITY: Readonly<Record<Gravity, string>> = {
  center: 'center',
  north: 'north',
  south: 'south',
  east: 'east',
  west: 'west',
  northeast: 'north_east',
  northwest: 'north_west',
  southeast: 'south_east',
  southwest: 'south_west',
  auto: 'auto',
};

const CROP = { scale: 'scale', fit: 'fit', limit: 'limit', fill: 'fill', pad: 'pad' } as const;

/** Options of {@link toCloudinaryTransformation}. */
export interface CloudinaryMapOptions {
  /**
   * `eager` (at upload) cannot negotiate: `auto` becomes `fallbackFormat`. `delivery` URLs keep `f_auto`.
   * @defaultValue 'eager'
   */
  context?: 'eager' | 'delivery';
  /** @defaultValue 'webp' */
  fallbackFormat?: ImageFormat;
  /**
   * The source is an animation. Cloudinary converts an animated image to WebP from its first frame
   * alone unless `fl_awebp` is given ("generate an animated WebP from all the frames in the original
   * animated file instead of only from the first still frame"), and documents `fl_animated` as used
   * "in addition to the flag or parameter controlling the delivery format, for example f_auto or
   * fl_awebp" (both: https://cloudinary.com/documentation/sdks/js/url-gen/Qualifiers.Flag.html).
   * Several flags are one `fl_` joined by dots (https://cloudinary.com/documentation/transformation_flags).
   * GIF output stays animated without a flag; JPEG and PNG take the first frame, as with sharp.
   * @defaultValue false
   */
  animated?: boolean;
}

/** The format Cloudinary names in `f_` and in its responses (`jpg`, not `jpeg`). */
export function cloudinaryFormat(f: ImageFormat): string {
  return f === 'jpeg' ? 'jpg' : f;
}

/** Cloudinary's `format` field back to ours. */
export function fromCloudinaryFormat(f: string): ImageFormat | undefined {
  const m: Record<string, ImageFormat> = { jpg: 'jpeg', jpeg: 'jpeg', png: 'png', webp: 'webp', avif: 'avif', gif: 'gif' };
  return m[f.toLowerCase()];
}

/** Sigma (sharp) → e_blur strength (Cloudinary, 1–2000). Approximate: the two blurs differ in kernel. */
export function blurStrength(sigma: number): number {
  return Math.min(2000, Math.max(1, Math.round(sigma * 20)));
}

function component(params: Record<string, string | number | undefined>): string {
  // Within a component, parameters are written in alphabetical order, as Cloudinary's SDKs do.
  return Object.keys(params)
    .filter((k) => params[k] !== undefined)
    .sort()
    .map((k) => `${k}_${String(params[k])}`)
    .join(',');
}

function stepComponent(s: Step): string {
  switch (s.op) {
    case 'resize':
      return component({
        c: CROP[s.mode],
        w: s.width,
        h: s.height,
        g: s.gravity === undefined ? undefined : GRAVITY[s.gravity],
        b: s.background === undefined ? undefined : `rgb:${s.background.slice(1)}`,
      });
    case 'crop':
      return component({ c: 'crop', w: s.width, h: s.height, x: s.x, y: s.y, g: s.gravity === undefined ? undefined : GRAVITY[s.gravity] });
    case 'rotate':
      return component({ a: s.angle, b: s.background === undefined ? undefined : `rgb:${s.background.slice(1)}` });
    case 'flip':
      return s.axis === 'horizontal' ? 'a_hflip' : s.axis === 'vertical' ? 'a_vflip' : 'a_180';
    case 'blur':
      return `e_blur:${blurStrength(s.sigma)}`;
    case 'grayscale':
      return 'e_grayscale';
    case 'round':
      return `r_${s.radius}`;
  }
}

/**
 * The spec as a Cloudinary transformation string: one chained component per step (`/`-separated),
 * then the output component (`f_…,q_…`). E.g. `c_fill,g_center,h_320,w_320/f_webp,q_80`.
 */
export function toCloudinaryTransformation(spec: TransformSpec, options: CloudinaryMapOptions = {}): string {
  const c = canonicalSpec(spec);
  const parts = c.steps.map(stepComponent);
  const fmt = c.output.format;
  let f: string | undefined;
  if (fmt === 'auto') f = options.context === 'delivery' ? 'auto' : cloudinaryFormat(options.fallbackFormat ?? 'webp');
  else if (fmt !== 'original') f = cloudinaryFormat(fmt);
  const fl = options.animated !== true ? undefined : f === 'webp' ? 'animated.awebp' : f === 'auto' ? 'animated' : undefined;
  const out = component({ f, fl, q: c.output.quality });
  if (out !== '') parts.push(out);
  return parts.join('/');
}

/** Several specs as the `eager` parameter (transformations separated by `|`). */
export function toCloudinaryEager(specs: readonly TransformSpec[], options: CloudinaryMapOptions = {}): string {
  return specs.map((s) => toCloudinaryTransformation(s, options)).join('|');
}
