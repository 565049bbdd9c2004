import sharp, { type Sharp } from 'sharp';
import type { Raster } from './raster.js';
import type { Gravity, ImageFormat, ResizeStep, Step } from './spec.js';

// How each spec step and output format is said in sharp: the one place the spec meets sharp's API.

const SHARP_POSITION: Readonly<Record<Exclude<Gravity, 'auto'>, string>> = {
  center: 'centre',
  north: 'north',
  south: 'south',
  east: 'east',
  west: 'west',
  northeast: 'northeast',
  northwest: 'northwest',
  southeast: 'southeast',
  southwest: 'southwest',
};

/** Sets the output format on a pipeline. */
export function encoder(p: Sharp, format: ImageFormat, quality: number | undefined, anim: { loop?: number; delay?: number[] }): Sharp {
  switch (format) {
    case 'jpeg':
      // JPEG has no alpha: transparent areas become white, as on Cloudinary.
      return p.flatten({ background: '#ffffff' }).jpeg({ quality: quality ?? 80, mozjpeg: false });
    case 'png':
      return p.png();
    case 'webp':
      return p.webp({ quality: quality ?? 80, ...anim });
    case 'avif':
      return p.avif({ quality: quality ?? 50 });
    case 'gif':
      return p.gif(anim);
  }
}

/** Adds one step to a pipeline over one frame of `r`. */
export async function stepPipeline(p: Sharp, step: Step, r: Raster, animated: boolean): Promise<Sharp> {
  switch (step.op) {
    case 'resize':
      return p.resize(resizeOptions(step, animated));
    case 'crop': {
      const width = Math.min(step.width, r.width);
      const height = Math.min(step.height, r.height);
      let left: number;
      let top: number;
      if (step.x !== undefined && step.y !== undefined) {
        // Out-of-bounds regions are clipped to the image, as Cloudinary does.
        left = Math.min(step.x, r.width - 1);
        top = Math.min(step.y, r.height - 1);
        return p.extract({ left, top, width: Math.min(width, r.width - left), height: Math.min(height, r.height - top) });
      }
      const g = step.gravity ?? 'center';
      left = g.includes('west') ? 0 : g.includes('east') ? r.width - width : Math.floor((r.width - width) / 2);
      top = g.includes('north') ? 0 : g.includes('south') ? r.height - height : Math.floor((r.height - height) / 2);
      return p.extract({ left, top, width, height });
    }
    case 'rotate':
      return step.angle % 90 === 0 ? p.rotate(step.angle) : p.rotate(step.angle, { background: step.background ?? '#ffffff' });
    case 'flip':
      if (step.axis === 'horizontal') return p.flop();
      if (step.axis === 'vertical') return p.flip();
      return p.flip().flop();
    case 'blur':
      return p.blur(step.sigma);
    case 'grayscale':
      return p.grayscale();
    case 'round': {
      const rx = step.radius === 'max' ? r.width / 2 : Math.min(step.radius, r.width / 2);
      const ry = step.radius === 'max' ? r.height / 2 : Math.min(step.radius, r.height / 2);
      const mask = Buffer.from(
        `<svg xmlns="http://www.w3.org/2000/svg" width="${r.width}" height="${r.height}"><rect x="0" y="0" width="${r.width}" height="${r.height}" rx="${rx}" ry="${ry}"/></svg>`,
      );
      // Materialise the alpha channel first: composite's dest-in needs it on the base image.
      const { data, info } = await p.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } }).composite([
        { input: mask, blend: 'dest-in' },
      ]);
    }
  }
}

/** sharp's resize options for a resize step. */
export function resizeOptions(s: ResizeStep, animated: boolean): sharp.ResizeOptions {
  const o: sharp.ResizeOptions = {};
  if (s.width !== undefined) o.width = s.width;
  if (s.height !== undefined) o.height = s.height;
  switch (s.mode) {
    case 'scale':
      // Both sides: stretch. One side: sharp's default keeps the aspect ratio ('fill' would keep the other side).
      if (s.width !== undefined && s.height !== undefined) o.fit = 'fill';
      break;
    case 'fit':
      o.fit = 'inside';
      break;
    case 'limit':
      o.fit = 'inside';
      o.withoutEnlargement = true;
      break;
    case 'fill':
      o.fit = 'cover';
      // Saliency per frame could pick different regions in each frame of an animation: centre instead.
      o.position = s.gravity === 'auto' ? (animated ? 'centre' : sharp.strategy.attention) : SHARP_POSITION[s.gravity ?? 'center'];
      break;
    case 'pad':
      o.fit = 'contain';
      o.position = s.gravity === undefined || s.gravity === 'auto' ? 'centre' : SHARP_POSITION[s.gravity];
      o.background = s.background ?? '#ffffff';
      break;
  }
  return o;
}
