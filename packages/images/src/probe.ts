import sharp from 'sharp';
import { ImageError, ImageErrorCodes } from './errors.js';
import { jpegSize, pngSize } from './header-size.js';
import { head, pathOrBytes, readWhole, sizeOf, type ImageInput } from './input.js';
import { checkTotalPixels, projectResize } from './limit-checks.js';
import type { ImageLimits } from './limits.js';
import { mapSharpError } from './sharp-errors.js';
import { gifTruncated, sniffImage, type SniffedType } from './sniff.js';
import type { Step } from './spec.js';

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

/** Formats that may be decoded. Others (SVG, PDF, HEIC …) are refused before sharp sees them. */
const DECODABLE: ReadonlySet<SniffedType> = new Set(['jpeg', 'png', 'gif', 'webp', 'avif', 'tiff']);

/**
 * INPUT_TOO_LARGE for an input of more than `maxInputBytes`. Also asked of a stored object's size
 * before its bytes are fetched from a store without local files (S3), so an object over the limit
 * is refused without being read into memory first.
 */
export function assertInputBytes(bytes: number, l: ImageLimits): void {
  if (bytes > l.maxInputBytes) {
    throw new ImageError(ImageErrorCodes.INPUT_TOO_LARGE, `input is ${bytes} bytes; the limit is ${l.maxInputBytes}`, {
      details: { limit: 'maxInputBytes', value: bytes, max: l.maxInputBytes },
    });
  }
}

/**
 * Sniffs and reads the header only; throws the typed errors of the limits. `maxTotalPixels` (all
 * frames) is checked unless `frames` is `'first'`: a transform that keeps only the first frame
 * decodes only that one.
 */
export async function probeImage(input: ImageInput, l: ImageLimits, options: { frames?: 'all' | 'first' } = {}): Promise<ImageProbe> {
  assertInputBytes(sizeOf(input), l);
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
    meta = await sharp(pathOrBytes(input), { failOn: 'error', limitInputPixels: false }).metadata();
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
  if (options.frames !== 'first') checkTotalPixels(width * frameHeight * pages, l);
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

/** Bytes read for a header: a JPEG's SOF follows its EXIF and ICC segments, usually well within. */
const HEADER_BYTES = 128 * 1024;
/** Reused by every quick probe instead of a fresh 128 KiB per image for the GC to collect. */
const headScratch = Buffer.allocUnsafeSlow(HEADER_BYTES);

/**
 * The header facts a render needs, read in JavaScript from a still JPEG's SOF marker or a PNG's
 * IHDR (both within the first bytes), so the common case skips libvips' separate header pass — a
 * thread-pool round trip that, on a server whose cores are busy transforming, costs about a
 * millisecond per image. Undefined (use {@link probeImage}) for other formats, a header not found in
 * the bytes read, or when the EXIF orientation, which only libvips reads, could matter: a leading
 * resize whose projected size fits the limits one way but not the other. The same limits are
 * checked; libvips enforces the pixel limit again at load.
 */
export function quickProbe(input: ImageInput, first: Step | undefined, l: ImageLimits): ImageProbe | undefined {
  const bytes = sizeOf(input);
  if (bytes > l.maxInputBytes) return undefined;
  // Read into one scratch buffer: only numbers leave this function, and the read is synchronous.
  const headBytes = Buffer.isBuffer(input) ? input.subarray(0, HEADER_BYTES) : head(input.path, HEADER_BYTES, headScratch);
  const format = sniffImage(headBytes.subarray(0, 64));
  const size = format === 'jpeg' ? jpegSize(headBytes) : format === 'png' ? pngSize(headBytes) : undefined;
  if (format === undefined || size === undefined || size.width <= 0 || size.height <= 0) return undefined;
  const { width, height } = size;
  if (width * height > l.maxPixels) return undefined; // probeImage() says why, with its typed error
  if (first?.op === 'resize') {
    const fits = (w: number, h: number): boolean => {
      const [pw, ph] = projectResize(first, w, h);
      return pw * ph <= l.maxPixels;
    };
    if (fits(width, height) !== fits(height, width)) return undefined;
  }
  return { format, width, height, pages: 1, hasAlpha: false };
}
