import sharp from 'sharp';
import { animationOptions } from './animation.js';
import { pathOrBytes, type ImageInput } from './input.js';
import { checkProjected } from './limit-checks.js';
import type { ImageLimits } from './limits.js';
import type { ImageProbe } from './probe.js';
import { splitFrames, type Raster } from './raster.js';
import { mapSharpError, transformTimeout } from './sharp-errors.js';
import { encoder, resizeOptions, stepPipeline } from './sharp-ops.js';
import type { ImageFormat, Step, TransformSpec } from './spec.js';

/** One output of a render. */
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

/** One decode → steps → encode run, its input already probed and its output format decided. */
export interface PipelineRun {
  input: ImageInput;
  spec: TransformSpec;
  probe: ImageProbe;
  format: ImageFormat;
  /** Decode every frame and keep them (the format carries an animation); else the first frame only. */
  animated: boolean;
  /** ms since the epoch; past it, work stops at the next frame or step. */
  deadline: number;
}

/**
 * Decodes (an animation as all its frames), runs the steps and encodes. Steps run one pass each on
 * raw frames, so every step sees the previous one's exact size, and each pass is checked against
 * the limits before it allocates.
 */
export async function runPipeline(run: PipelineRun, limits: ImageLimits): Promise<RenderedImage> {
  const { input, spec, probe, format, animated, deadline } = run;
  const first = spec.steps[0];
  let raster: Raster;
  let meta: sharp.Metadata = {} as sharp.Metadata;
  // A leading resize of a still image runs inside the decode, so libjpeg/libwebp can shrink while
  // decoding instead of materialising every input pixel: most of the cost of a thumbnail. Later
  // steps still run one raw pass each, and see exactly what this one produced.
  const fold = !animated && first?.op === 'resize' ? first : undefined;
  if (fold !== undefined)
    checkProjected(fold, { frames: [Buffer.alloc(0)], width: probe.width, height: probe.height, channels: 3 }, limits);
  try {
    // The pixel limit again, at load: a file swapped after the probe cannot slip past it.
    const img = sharp(pathOrBytes(input), {
      animated,
      autoOrient: true,
      failOn: 'error',
      sequentialRead: true,
      limitInputPixels: limits.maxPixels * (animated ? probe.pages : 1),
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
    checkProjected(step, raster, limits);
    raster = await applyStep(raster, step, deadline, limits);
  }
  return encode(raster, format, spec.output.quality, meta, deadline, limits);
}

async function applyStep(r: Raster, step: Step, deadline: number, limits: ImageLimits): Promise<Raster> {
  const out: Buffer[] = [];
  let width = r.width;
  let height = r.height;
  let channels = r.channels;
  // Frame by frame: every libvips operation then sees one still image, so vertical flips, rotations
  // and masks never mix up the frames of an animation.
  for (const frame of r.frames) {
    // render() has answered TIMEOUT at the deadline; stop here too, so the work does not go on
    // holding its frames and its slot (sharp's own timeout is whole seconds, at least one).
    if (Date.now() >= deadline) throw transformTimeout(limits.timeoutMs);
    try {
      let p = sharp(frame, { raw: { width: r.width, height: r.height, channels: r.channels } }).timeout({ seconds: secondsLeft(deadline) });
      p = await stepPipeline(p, step, r, r.frames.length > 1);
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

async function encode(
  r: Raster,
  format: ImageFormat,
  quality: number | undefined,
  meta: sharp.Metadata,
  deadline: number,
  limits: ImageLimits,
): Promise<RenderedImage> {
  if (Date.now() >= deadline) throw transformTimeout(limits.timeoutMs);
  const pages = r.frames.length;
  const strip = pages === 1 ? (r.frames[0] as Buffer) : Buffer.concat(r.frames);
  let p = sharp(strip, {
    raw: { width: r.width, height: r.height * pages, channels: r.channels, ...(pages > 1 ? { pageHeight: r.height } : {}) },
  }).timeout({ seconds: secondsLeft(deadline) });
  p = encoder(p, format, quality, animationOptions(meta, pages));
  try {
    const { data, info } = await p.toBuffer({ resolveWithObject: true });
    return { data, format, width: info.width, height: pages > 1 ? r.height : info.height, bytes: data.length, pages };
  } catch (err) {
    throw mapSharpError(err);
  }
}

/** sharp's own timeout is whole seconds, at least one; the overall deadline is enforced besides. */
function secondsLeft(deadline: number): number {
  return Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
}
