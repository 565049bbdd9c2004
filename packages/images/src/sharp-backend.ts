import sharp, { type Sharp } from 'sharp';
import { ImageError, ImageErrorCodes } from './errors.js';
import { sniffImage, type SniffedType } from './sniff.js';
import { resolveFormat, type Gravity, type ImageFormat, type ResizeStep, type Step, type TransformSpec } from './spec.js';

/** Limits applied to every input, checked from the header before any pixel is decoded. */
export interface ImageLimits {
  /** Largest input, bytes. @defaultValue 26_214_400 (25 MiB) */
  maxInputBytes: number;
  /** Largest frame (and largest intermediate or output frame), pixels. @defaultValue 50_000_000 */
  maxPixels: number;
  /** Most frames of an animated input. @defaultValue 200 */
  maxFrames: number;
  /** Largest width × height × frames of an animated input or output. @defaultValue 250_000_000 */
  maxTotalPixels: number;
  /** Wall time of one transform (all passes), ms; sharp's own timeout is set from it too. @defaultValue 30_000 */
  timeoutMs: number;
}

export const DEFAULT_IMAGE_LIMITS: Readonly<ImageLimits> = Object.freeze({
  maxInputBytes: 25 * 1024 * 1024,
  maxPixels: 50_000_000,
  maxFrames: 200,
  maxTotalPixels: 250_000_000,
  timeoutMs: 30_000,
});

/** Fills in and validates limits, naming the bad field. */
export function resolveImageLimits(l: Partial<ImageLimits> = {}): ImageLimits {
  const r = { ...DEFAULT_IMAGE_LIMITS, ...l };
  for (const k of Object.keys(DEFAULT_IMAGE_LIMITS) as (keyof ImageLimits)[]) {
    if (!Number.isSafeInteger(r[k]) || r[k] <= 0) throw new TypeError(`limits.${k} must be a positive integer, got ${String(r[k])}`);
  }
  return r;
}

/** What the header says about an input. */
export interface ImageProbe {
  format: SniffedType;
  /** Displayed size: after EXIF orientation. */
  width: number;
  height: number;
  /** Frames (1 for still images). */
  pages: number;
  hasAlpha: boolean;
  /** EXIF orientation 1–8 when present. */
  orientation?: number;
}

/** An encoded output. */
export interface RenderedImage {
  data: Buffer;
  format: ImageFormat;
  width: number;
  /** Height of one frame. */
  height: number;
  bytes: number;
  /** Frames in the output (1 unless an animation was kept). */
  pages: number;
}

/** Options of one render. */
export interface RenderOptions {
  /** The client's Accept header, for `format: 'auto'`. */
  accept?: string;
}

/** Formats that may be decoded. Others (SVG, PDF, HEIC …) are refused before sharp sees them. */
const DECODABLE: ReadonlySet<SniffedType> = new Set(['jpeg', 'png', 'gif', 'webp', 'avif', 'tiff']);
const ANIMATABLE: ReadonlySet<ImageFormat> = new Set(['gif', 'webp']);

/** A decoded image: raw 8-bit frames of equal size. */
interface Raster {
  frames: Buffer[];
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

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

/**
 * Transforms images in-process with sharp (libvips). Every input is sniffed, probed from its header
 * and checked against {@link ImageLimits} before decoding; decoding runs with `limitInputPixels`,
 * `failOn: 'error'` (truncated or corrupt data fails) and sharp's timeout, under an overall deadline.
 * Animated GIF/WebP stay animated when the output format is gif or webp; other outputs take the first
 * frame. Steps run one pass each on raw frames, so every step sees the previous one's exact size;
 * a leading resize of a still image is folded into the decode (shrink-on-load).
 */
export class SharpBackend {
  readonly kind = 'sharp' as const;
  readonly limits: ImageLimits;

  constructor(limits: Partial<ImageLimits> = {}) {
    this.limits = resolveImageLimits(limits);
  }

  /** Sniffs and reads the header only; throws the typed errors of the limits. */
  async probe(data: Buffer): Promise<ImageProbe> {
    const l = this.limits;
    if (data.length > l.maxInputBytes) {
      throw new ImageError(ImageErrorCodes.INPUT_TOO_LARGE, `input is ${data.length} bytes; the limit is ${l.maxInputBytes}`, {
        details: { limit: 'maxInputBytes', value: data.length, max: l.maxInputBytes },
      });
    }
    const format = sniffImage(data.subarray(0, 64));
    if (format === undefined || !DECODABLE.has(format)) {
      throw new ImageError(ImageErrorCodes.UNSUPPORTED_FORMAT, 'input is not a JPEG, PNG, GIF, WebP, AVIF or TIFF image');
    }
    let meta: sharp.Metadata;
    try {
      meta = await sharp(data, { failOn: 'error', limitInputPixels: false }).metadata();
    } catch (err) {
      throw mapSharpError(err);
    }
    const pages = meta.pages ?? 1;
    const frameHeight = meta.pageHeight ?? meta.height ?? 0;
    const width = meta.width ?? 0;
    if (width <= 0 || frameHeight <= 0) throw new ImageError(ImageErrorCodes.CORRUPT_INPUT, 'input has no dimensions');
    if (width * frameHeight > l.maxPixels) {
      throw new ImageError(ImageErrorCodes.INPUT_TOO_LARGE, `input is ${width}×${frameHeight} px; the limit is ${l.maxPixels} px`, {
        details: { limit: 'maxPixels', value: width * frameHeight, max: l.maxPixels },
      });
    }
    if (pages > l.maxFrames) {
      throw new ImageError(ImageErrorCodes.INPUT_TOO_LARGE, `input has ${pages} frames; the limit is ${l.maxFrames}`, {
        details: { limit: 'maxFrames', value: pages, max: l.maxFrames },
      });
    }
    if (width * frameHeight * pages > l.maxTotalPixels) {
      throw new ImageError(ImageErrorCodes.INPUT_TOO_LARGE, `input has ${width * frameHeight * pages} px over all frames; the limit is ${l.maxTotalPixels}`, {
        details: { limit: 'maxTotalPixels', value: width * frameHeight * pages, max: l.maxTotalPixels },
      });
    }
    const swap = (meta.orientation ?? 1) >= 5;
    const probe: ImageProbe = {
      format,
      width: swap ? frameHeight : width,
      height: swap ? width : frameHeight,
      pages,
      hasAlpha: meta.hasAlpha === true,
    };
    if (meta.orientation !== undefined) probe.orientation = meta.orientation;
    return probe;
  }

  /** Applies `spec` to `data`. Throws ImageError (never hangs past `timeoutMs`). */
  async render(data: Buffer, spec: TransformSpec, options: RenderOptions = {}): Promise<RenderedImage> {
    const deadline = Date.now() + this.limits.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ImageError(ImageErrorCodes.TIMEOUT, `transform exceeded ${this.limits.timeoutMs} ms`)),
        this.limits.timeoutMs,
      );
    });
    try {
      return await Promise.race([this.#render(data, spec, options, deadline), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #render(data: Buffer, spec: TransformSpec, options: RenderOptions, deadline: number): Promise<RenderedImage> {
    const probe = await this.probe(data);
    const inputFormat: ImageFormat = probe.format === 'tiff' ? 'png' : probe.format;
    const format = resolveFormat(spec.output.format, inputFormat, options.accept);
    const animated = probe.pages > 1 && ANIMATABLE.has(format);
    let raster: Raster;
    let meta: sharp.Metadata = {} as sharp.Metadata;
    // A leading resize of a still image runs inside the decode, so libjpeg/libwebp can shrink while
    // decoding instead of materialising every input pixel: most of the cost of a thumbnail. Later
    // steps still run one raw pass each, and see exactly what this one produced.
    const first = spec.steps[0];
    const fold = !animated && first?.op === 'resize' ? first : undefined;
    if (fold !== undefined) this.#checkProjected(fold, { frames: [Buffer.alloc(0)], width: probe.width, height: probe.height, channels: 3 });
    try {
      const img = sharp(data, {
        animated,
        autoOrient: true,
        failOn: 'error',
        sequentialRead: true,
        limitInputPixels: this.limits.maxPixels * (animated ? probe.pages : 1),
      });
      // Loop count and frame delays are only needed to re-encode an animation.
      if (animated) meta = await img.metadata();
      let p = img.timeout({ seconds: secondsLeft(deadline) }).toColourspace('srgb');
      if (fold !== undefined) p = p.resize(resizeOptions(fold, false));
      if (fold !== undefined && spec.steps.length === 1) {
        // A lone resize: decode, shrink and encode in one libvips pipeline, with no raw copy.
        const { data: out, info } = await encoder(p, format, spec.output.quality, {}).toBuffer({ resolveWithObject: true });
        return { data: out, format, width: info.width, height: info.height, bytes: out.length, pages: 1 };
      }
      const { data: pixels, info } = await p.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
      const pages = animated ? probe.pages : 1;
      raster = splitFrames(pixels, info.width, info.height / pages, info.channels, pages);
    } catch (err) {
      throw mapSharpError(err);
    }
    for (const step of fold === undefined ? spec.steps : spec.steps.slice(1)) {
      this.#checkProjected(step, raster);
      raster = await this.#applyStep(raster, step, deadline);
    }
    return this.#encode(raster, format, spec.output.quality, meta, deadline);
  }

  /** Refuses a step whose output would exceed the pixel limits, before allocating it. */
  #checkProjected(step: Step, r: Raster): void {
    let w = r.width;
    let h = r.height;
    if (step.op === 'resize') [w, h] = projectResize(step, r.width, r.height);
    else if (step.op === 'rotate' && step.angle % 90 !== 0) w = h = r.width + r.height;
    if (w * h > this.limits.maxPixels || w * h * r.frames.length > this.limits.maxTotalPixels) {
      throw new ImageError(ImageErrorCodes.INPUT_TOO_LARGE, `step ${step.op} would make ${w}×${h} px frames; the limit is ${this.limits.maxPixels} px`, {
        details: { limit: 'maxPixels', value: w * h, max: this.limits.maxPixels },
      });
    }
  }

  async #applyStep(r: Raster, step: Step, deadline: number): Promise<Raster> {
    const out: Buffer[] = [];
    let width = r.width;
    let height = r.height;
    let channels = r.channels;
    // Frame by frame: every libvips operation then sees one still image, so vertical flips, rotations
    // and masks never mix up the frames of an animation.
    for (const frame of r.frames) {
      let p = sharp(frame, { raw: { width: r.width, height: r.height, channels: r.channels } }).timeout({ seconds: secondsLeft(deadline) });
      p = await stepPipeline(p, step, r, r.frames.length > 1);
      try {
        const { data, info } = await p.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
        out.push(data);
        width = info.width;
        height = info.height;
        channels = info.channels;
      } catch (err) {
        throw mapSharpError(err);
      }
    }
    return { frames: out, width, height, channels };
  }

  async #encode(r: Raster, format: ImageFormat, quality: number | undefined, meta: sharp.Metadata, deadline: number): Promise<RenderedImage> {
    const pages = r.frames.length;
    const strip = pages === 1 ? (r.frames[0] as Buffer) : Buffer.concat(r.frames);
    let p = sharp(strip, {
      raw: { width: r.width, height: r.height * pages, channels: r.channels, ...(pages > 1 ? { pageHeight: r.height } : {}) },
    }).timeout({ seconds: secondsLeft(deadline) });
    const anim = pages > 1 ? { loop: meta.loop ?? 0, ...(meta.delay === undefined ? {} : { delay: meta.delay }) } : {};
    p = encoder(p, format, quality, anim);
    try {
      const { data, info } = await p.toBuffer({ resolveWithObject: true });
      return { data, format, width: info.width, height: pages > 1 ? r.height : info.height, bytes: data.length, pages };
    } catch (err) {
      throw mapSharpError(err);
    }
  }
}

/** Sets the output format on a pipeline. */
function encoder(p: Sharp, format: ImageFormat, quality: number | undefined, anim: { loop?: number; delay?: number[] }): Sharp {
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

async function stepPipeline(p: Sharp, step: Step, r: Raster, animated: boolean): Promise<Sharp> {
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
      return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } }).composite([{ input: mask, blend: 'dest-in' }]);
    }
  }
}

function resizeOptions(s: ResizeStep, animated: boolean): sharp.ResizeOptions {
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

function splitFrames(pixels: Buffer, width: number, height: number, channels: number, pages: number): Raster {
  const size = width * height * channels;
  const frames: Buffer[] = [];
  for (let i = 0; i < pages; i++) frames.push(pixels.subarray(i * size, (i + 1) * size));
  return { frames, width, height, channels: channels as Raster['channels'] };
}

function secondsLeft(deadline: number): number {
  return Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
}

/**
 * The one place sharp's (libvips') error text is read. libvips has no error codes, so its messages
 * are classified here and nowhere else.
 */
export function mapSharpError(err: unknown): ImageError {
  if (err instanceof ImageError) return err;
  const text = err instanceof Error ? err.message : String(err);
  if (/pixel limit/i.test(text)) return new ImageError(ImageErrorCodes.INPUT_TOO_LARGE, text, { cause: err });
  if (/timeout/i.test(text)) return new ImageError(ImageErrorCodes.TIMEOUT, text, { cause: err });
  if (/unsupported image format|Input buffer contains unsupported/i.test(text)) {
    return new ImageError(ImageErrorCodes.UNSUPPORTED_FORMAT, text, { cause: err });
  }
  return new ImageError(ImageErrorCodes.CORRUPT_INPUT, `image could not be decoded: ${text}`, { cause: err });
}
