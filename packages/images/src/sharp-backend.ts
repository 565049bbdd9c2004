import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import sharp, { type Sharp } from 'sharp';
import { ImageError, ImageErrorCodes } from './errors.js';
import type { ImageInput } from './input.js';
import { isMissing, readHead } from './local-files.js';
import { gifTruncated, sniffImage, type SniffedType } from './sniff.js';
import { resolveSyncReadMaxBytes, SourceReader } from './source-reader.js';
import { resolveFormat, type Gravity, type ImageFormat, type ResizeStep, type Step, type TransformSpec } from './spec.js';

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

/** Options of {@link SharpBackend} besides its limits. */
export interface SharpBackendOptions {
  /**
   * Stored sources (files) up to this many bytes are read into a reused buffer with one synchronous
   * read before decoding; larger ones libvips reads from the file itself. Reading blocks the event
   * loop for page-cache time (~0.1 ms per megabyte), and saves about 2 % of a thumbnail's CPU (see
   * {@link SourceReader}). Set 0 when the blob store is on a network file system. Up to
   * `maxConcurrent` such buffers are kept for reuse.
   * @defaultValue 8_388_608 (8 MiB)
   */
  syncReadMaxBytes: number;
}

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

/** An input to be transformed as an animation: what its probe found, and the output format. */
interface Animation {
  probe: ImageProbe;
  format: ImageFormat;
}

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

  readonly #slots: Slots;
  readonly #animations: Slots;
  readonly #reader: SourceReader;

  constructor(limits: Partial<ImageLimits> = {}, options: Partial<SharpBackendOptions> = {}) {
    this.limits = resolveImageLimits(limits);
    this.#slots = new Slots(this.limits.maxConcurrent);
    this.#animations = new Slots(this.limits.maxConcurrentAnimations);
    this.#reader = new SourceReader(resolveSyncReadMaxBytes(options.syncReadMaxBytes), this.limits.maxConcurrent);
    // libvips caches operations keyed by input file name, and sharp's docs say to turn the cache
    // off when files change under the same name, as blobs do (a new file renamed over the key's
    // path). Inputs here are rarely reused anyway, so the (process-wide) cache is off.
    sharp.cache(false);
  }

  /**
   * Transforms holding a slot now (started and not yet stopped; a transform that timed out counts
   * until its work has stopped, at the next frame or step at the latest).
   */
  get running(): number {
    return this.#slots.busy;
  }

  /** Animations being decoded and transformed now (at most `maxConcurrentAnimations`). */
  get animating(): number {
    return this.#animations.busy;
  }

  /**
   * Sniffs and reads the header only; throws the typed errors of the limits. `maxTotalPixels` (all
   * frames) is checked unless `frames` is `'first'`: a transform that keeps only the first frame
   * decodes only that one.
   */
  async probe(input: ImageInput, options: { frames?: 'all' | 'first' } = {}): Promise<ImageProbe> {
    const l = this.limits;
    const bytes = sizeOf(input);
    if (bytes > l.maxInputBytes) {
      throw new ImageError(ImageErrorCodes.INPUT_TOO_LARGE, `input is ${bytes} bytes; the limit is ${l.maxInputBytes}`, {
        details: { limit: 'maxInputBytes', value: bytes, max: l.maxInputBytes },
      });
    }
    // The magic bytes decide, never a name or a stored content type: libvips must not be handed a
    // format we did not mean to parse (SVG, PDF…).
    const format = sniffImage(Buffer.isBuffer(input) ? input.subarray(0, 64) : head(input.path));
    if (format === undefined || !DECODABLE.has(format)) {
      throw new ImageError(ImageErrorCodes.UNSUPPORTED_FORMAT, 'input is not a JPEG, PNG, GIF, WebP, AVIF or TIFF image');
    }
    if (format === 'gif' && gifTruncated(Buffer.isBuffer(input) ? input : await readWhole(input.path))) {
      throw new ImageError(ImageErrorCodes.CORRUPT_INPUT, 'the GIF is truncated: its data ends inside a block');
    }
    let meta: sharp.Metadata;
    try {
      meta = await sharp(source(input), { failOn: 'error', limitInputPixels: false }).metadata();
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
    if (options.frames !== 'first') this.#checkTotal(width * frameHeight * pages);
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

  /** Refuses an animation whose frames hold more than `maxTotalPixels` together. */
  #checkTotal(total: number): void {
    const max = this.limits.maxTotalPixels;
    if (total > max) {
      throw new ImageError(ImageErrorCodes.INPUT_TOO_LARGE, `input has ${total} px over all frames; the limit is ${max}`, {
        details: { limit: 'maxTotalPixels', value: total, max },
      });
    }
  }

  /** Applies `spec` to `data`. Throws ImageError (never hangs past `timeoutMs`). */
  async render(input: ImageInput, spec: TransformSpec, options: RenderOptions = {}): Promise<RenderedImage> {
    const deadline = Date.now() + this.limits.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(this.#timeout()),
        this.limits.timeoutMs,
      );
    });
    const work = this.#slots.run(() => this.#withSource(input, deadline, (src) => this.#renderStill(src, spec, options, deadline))).then((r) =>
      // An animation: its slot was given back; its turn at the gate first, then a slot again. Gate
      // before slot, always, and a still image never waits for the gate: no cycle, and a burst of
      // animations cannot hold every slot while one of them works.
      'animation' in r
        ? this.#animations.run(() => this.#slots.run(() =>
          this.#withSource(input, deadline, (src) => this.#renderDecoded(src, spec, r.animation.probe, r.animation.format, true, deadline))))
        : r,
    );
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs `use` on the input's bytes (a stored file read into a pooled buffer when small enough). */
  async #withSource<T>(input: ImageInput, deadline: number, use: (src: ImageInput) => Promise<T>): Promise<T> {
    // Its caller gave up while it waited for a slot or its turn: do not spend a core on it.
    if (Date.now() >= deadline) throw this.#timeout();
    const pooled = Buffer.isBuffer(input) ? undefined : this.#reader.read(input.path, input.bytes);
    try {
      return await use(pooled?.data ?? input);
    } finally {
      // Only now is libvips done with the bytes (a render that timed out above is still running here).
      pooled?.release();
    }
  }

  /** Probes and renders a still image; an animation to keep comes back as its probe, for {@link render} to queue. */
  async #renderStill(input: ImageInput, spec: TransformSpec, options: RenderOptions, deadline: number): Promise<RenderedImage | { animation: Animation }> {
    const first = spec.steps[0];
    const probe = this.#quickProbe(input, first) ?? (await this.probe(input, { frames: 'first' }));
    const inputFormat: ImageFormat = probe.format === 'tiff' ? 'png' : probe.format;
    const format = resolveFormat(spec.output.format, inputFormat, options.accept);
    if (probe.pages > 1 && ANIMATABLE.has(format)) {
      this.#checkTotal(probe.width * probe.height * probe.pages);
      return { animation: { probe, format } };
    }
    return this.#renderDecoded(input, spec, probe, format, false, deadline);
  }

  /** Decodes (an animation as all its frames), runs the steps and encodes. */
  async #renderDecoded(input: ImageInput, spec: TransformSpec, probe: ImageProbe, format: ImageFormat, animated: boolean, deadline: number): Promise<RenderedImage> {
    const first = spec.steps[0];
    let raster: Raster;
    let meta: sharp.Metadata = {} as sharp.Metadata;
    // A leading resize of a still image runs inside the decode, so libjpeg/libwebp can shrink while
    // decoding instead of materialising every input pixel: most of the cost of a thumbnail. Later
    // steps still run one raw pass each, and see exactly what this one produced.
    const fold = !animated && first?.op === 'resize' ? first : undefined;
    if (fold !== undefined) this.#checkProjected(fold, { frames: [Buffer.alloc(0)], width: probe.width, height: probe.height, channels: 3 });
    try {
      // The pixel limit again, at load: a file swapped after the probe cannot slip past it.
      const img = sharp(source(input), {
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

  #timeout(): ImageError {
    return new ImageError(ImageErrorCodes.TIMEOUT, `transform exceeded ${this.limits.timeoutMs} ms`);
  }

  /**
   * The header facts a render needs, read in JavaScript from a still JPEG's SOF marker or a PNG's
   * IHDR (both within the first bytes), so the common case skips libvips' separate header pass — a
   * thread-pool round trip that, on a server whose cores are busy transforming, costs about a
   * millisecond per image. Undefined (use {@link probe}) for other formats, a header not found in
   * the bytes read, or when the EXIF orientation, which only libvips reads, could matter: a leading
   * resize whose projected size fits the limits one way but not the other. The same limits are
   * checked; libvips enforces the pixel limit again at load.
   */
  #quickProbe(input: ImageInput, first: Step | undefined): ImageProbe | undefined {
    const l = this.limits;
    const bytes = sizeOf(input);
    if (bytes > l.maxInputBytes) return undefined;
    // Read into one scratch buffer: only numbers leave this function, and the read is synchronous.
    const headBytes = Buffer.isBuffer(input) ? input.subarray(0, HEADER_BYTES) : head(input.path, HEADER_BYTES, headScratch);
    const format = sniffImage(headBytes.subarray(0, 64));
    const size = format === 'jpeg' ? jpegSize(headBytes) : format === 'png' ? pngSize(headBytes) : undefined;
    if (format === undefined || size === undefined || size.width <= 0 || size.height <= 0) return undefined;
    const { width, height } = size;
    if (width * height > l.maxPixels) return undefined; // probe() says why, with its typed error
    if (first?.op === 'resize') {
      const fits = (w: number, h: number): boolean => {
        const [pw, ph] = projectResize(first, w, h);
        return pw * ph <= l.maxPixels;
      };
      if (fits(width, height) !== fits(height, width)) return undefined;
    }
    return { format, width, height, pages: 1, hasAlpha: false };
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
      // render() has answered TIMEOUT at the deadline; stop here too, so the work does not go on
      // holding its frames and its slot (sharp's own timeout is whole seconds, at least one).
      if (Date.now() >= deadline) throw this.#timeout();
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

  async #encode(r: Raster, format: ImageFormat, quality: number | undefined, meta: sharp.Metadata, deadline: number): Promise<RenderedImage> {
    if (Date.now() >= deadline) throw this.#timeout();
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

/** A counting semaphore: at most `size` tasks run at once, the rest start in arrival order. */
class Slots {
  readonly #size: number;
  #free: number;
  readonly #queue: Array<() => void> = [];

  constructor(size: number) {
    this.#size = size;
    this.#free = size;
  }

  /** Slots taken now. */
  get busy(): number {
    return this.#size - this.#free;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#queue.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#queue.shift();
      if (next !== undefined) next();
      else this.#free++;
    }
  }
}

/** A JPEG's frame size from its first SOFn marker within `b`; undefined when not there. */
export function jpegSize(b: Buffer): { width: number; height: number } | undefined {
  let i = 2; // after SOI
  while (i + 9 <= b.length) {
    if (b[i] !== 0xff) return undefined;
    const m = b[i + 1] as number;
    if (m === 0xff) {
      i++; // fill byte
      continue;
    }
    if (m === 0x01 || (m >= 0xd0 && m <= 0xd8)) {
      i += 2; // markers without a length
      continue;
    }
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
    }
    if (m === 0xd9 || m === 0xda) return undefined; // end of image or start of scan: no frame header
    i += 2 + b.readUInt16BE(i + 2);
  }
  return undefined;
}

/** A PNG's size from its IHDR chunk, which the format puts first. */
export function pngSize(b: Buffer): { width: number; height: number } | undefined {
  if (b.length < 24 || b.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

function sizeOf(input: ImageInput): number {
  return Buffer.isBuffer(input) ? input.length : input.bytes;
}

function source(input: ImageInput): Buffer | string {
  return Buffer.isBuffer(input) ? input : input.path;
}

/** Bytes read for a header: a JPEG's SOF follows its EXIF and ICC segments, usually well within. */
const HEADER_BYTES = 128 * 1024;
/** Reused by every quick probe instead of a fresh 128 KiB per image for the GC to collect. */
const headScratch = Buffer.allocUnsafeSlow(HEADER_BYTES);

/**
 * A whole file (a GIF too large for the pooled read, checked for truncation), read on the thread
 * pool: it may be up to maxInputBytes, or on a network file system. A missing file is NOT_FOUND.
 */
async function readWhole(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    if (isMissing(err)) throw new ImageError(ImageErrorCodes.NOT_FOUND, 'the stored object is gone');
    throw err;
  }
}

/** The first `n` bytes of a file (fewer if it is shorter); a missing file is NOT_FOUND. */
function head(path: string, n = 64, into?: Buffer): Buffer {
  try {
    return readHead(path, n, into);
  } catch (err) {
    if (isMissing(err)) throw new ImageError(ImageErrorCodes.NOT_FOUND, 'the stored object is gone');
    throw err;
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
