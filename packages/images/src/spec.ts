import { createHash } from 'node:crypto';
import { Ajv } from 'ajv';
import { ImageError, ImageErrorCodes } from './errors.js';

/**
 * The transform spec, version 1: ordered steps applied to the (EXIF-oriented) input, then an output
 * encoding. It is plain JSON so blocks can send it through `ctx.call`, and it maps to both sharp and
 * Cloudinary (see docs/IMAGES.md for what is exact and what approximate on each).
 */
export const SPEC_VERSION = 1;

/** Largest width/height a step may ask for, px. */
export const MAX_DIMENSION = 16_384;
/** Most steps in one spec. */
export const MAX_STEPS = 16;

export const Gravities = ['center', 'north', 'south', 'east', 'west', 'northeast', 'northwest', 'southeast', 'southwest', 'auto'] as const;
/** Which part of the image to keep (fill, crop) or where to place it (pad). `auto` = smart (saliency). */
export type Gravity = (typeof Gravities)[number];

export const ResizeModes = ['scale', 'fit', 'limit', 'fill', 'pad'] as const;
/**
 * - `scale`: exactly width × height (aspect ratio changes when both are given);
 * - `fit`: largest size inside the box, aspect kept, may upscale;
 * - `limit`: like fit but never upscales;
 * - `fill`: covers the box, aspect kept, cropped to exactly width × height around `gravity`;
 * - `pad`: fits inside the box, padded with `background` to exactly width × height.
 */
export type ResizeMode = (typeof ResizeModes)[number];

export const OutputFormats = ['jpeg', 'png', 'webp', 'avif', 'gif', 'auto', 'original'] as const;
/** `auto` is negotiated (Accept header on on-the-fly URLs; webp elsewhere); `original` keeps the input's. */
export type OutputFormat = (typeof OutputFormats)[number];
/** A concrete encoded format. */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'avif' | 'gif';

export type ResizeStep = {
  op: 'resize';
  mode: ResizeMode;
  width?: number;
  height?: number;
  /** fill and pad only. @defaultValue 'center' */
  gravity?: Gravity;
  /** pad only: `#rrggbb`. @defaultValue '#ffffff' */
  background?: string;
};
export type CropStep = {
  op: 'crop';
  width: number;
  height: number;
  /** Top-left corner; both or neither. Without them the region is placed by `gravity`. */
  x?: number;
  y?: number;
  /** @defaultValue 'center' when x/y are absent */
  gravity?: Exclude<Gravity, 'auto'>;
};
/** Clockwise degrees; multiples of 90 are lossless, other angles expand the canvas with `background`. */
export type RotateStep = { op: 'rotate'; angle: number; background?: string };
export type FlipStep = { op: 'flip'; axis: 'horizontal' | 'vertical' | 'both' };
/** Gaussian blur with sigma 0.3–100 (sharp's unit); mapped to Cloudinary's e_blur strength. */
export type BlurStep = { op: 'blur'; sigma: number };
export type GrayscaleStep = { op: 'grayscale' };
/** Rounded corners of `radius` px, or `max` for a circle/ellipse. */
export type RoundStep = { op: 'round'; radius: number | 'max' };

export type Step = ResizeStep | CropStep | RotateStep | FlipStep | BlurStep | GrayscaleStep | RoundStep;

export interface OutputOptions {
  /** @defaultValue 'original' */
  format: OutputFormat;
  /** 1–100 for lossy formats (jpeg, webp, avif); ignored (and dropped from the canonical form) for png/gif. */
  quality?: number;
}

/** A versioned transform spec. */
export interface TransformSpec {
  v: typeof SPEC_VERSION;
  steps: Step[];
  output: OutputOptions;
}

const dim = { type: 'integer', minimum: 1, maximum: MAX_DIMENSION } as const;
const color = { type: 'string', pattern: '^#[0-9A-Fa-f]{6}$' } as const;
const gravity = { enum: Gravities } as const;

const stepSchemas = [
  {
    type: 'object',
    properties: { op: { const: 'resize' }, mode: { enum: ResizeModes }, width: dim, height: dim, gravity, background: color },
    required: ['op', 'mode'],
    additionalProperties: false,
  },
  {
    type: 'object',
    properties: {
      op: { const: 'crop' },
      width: dim,
      height: dim,
      x: { type: 'integer', minimum: 0, maximum: MAX_DIMENSION },
      y: { type: 'integer', minimum: 0, maximum: MAX_DIMENSION },
      gravity: { enum: Gravities.filter((g) => g !== 'auto') },
    },
    required: ['op', 'width', 'height'],
    additionalProperties: false,
  },
  {
    type: 'object',
    properties: { op: { const: 'rotate' }, angle: { type: 'integer', minimum: -360, maximum: 360 }, background: color },
    required: ['op', 'angle'],
    additionalProperties: false,
  },
  {
    type: 'object',
    properties: { op: { const: 'flip' }, axis: { enum: ['horizontal', 'vertical', 'both'] } },
    required: ['op', 'axis'],
    additionalProperties: false,
  },
  {
    type: 'object',
    properties: { op: { const: 'blur' }, sigma: { type: 'number', minimum: 0.3, maximum: 100 } },
    required: ['op', 'sigma'],
    additionalProperties: false,
  },
  { type: 'object', properties: { op: { const: 'grayscale' } }, required: ['op'], additionalProperties: false },
  {
    type: 'object',
    properties: {
      op: { const: 'round' },
      radius: { oneOf: [{ type: 'integer', minimum: 1, maximum: MAX_DIMENSION }, { const: 'max' }] },
    },
    required: ['op', 'radius'],
    additionalProperties: false,
  },
];

/** The JSON Schema (draft 2020-12 compatible subset) of a {@link TransformSpec}. */
export const transformSpecSchema = {
  $id: 'https://tributary.dev/schemas/transform-spec-v1.json',
  type: 'object',
  properties: {
    v: { const: SPEC_VERSION },
    steps: {
      type: 'array',
      maxItems: MAX_STEPS,
      items: {
        type: 'object',
        properties: { op: { enum: ['resize', 'crop', 'rotate', 'flip', 'blur', 'grayscale', 'round'] } },
        required: ['op'],
        discriminator: { propertyName: 'op' },
        oneOf: stepSchemas,
      },
    },
    output: {
      type: 'object',
      properties: { format: { enum: OutputFormats }, quality: { type: 'integer', minimum: 1, maximum: 100 } },
      additionalProperties: false,
    },
  },
  required: ['v'],
  additionalProperties: false,
} as const;

const ajv = new Ajv({ allErrors: false, strict: true, discriminator: true });
const validateSchema = ajv.compile(transformSpecSchema);

/**
 * Validates untrusted input (from a block, a URL, a config file) and returns the spec in canonical
 * form. Throws ImageError(INVALID_SPEC) naming the first bad field.
 */
export function parseSpec(input: unknown): TransformSpec {
  if (!validateSchema(input)) {
    const e = validateSchema.errors?.[0];
    const where = e === undefined ? 'spec' : `spec${e.instancePath.replace(/\//g, '.')}`;
    throw new ImageError(ImageErrorCodes.INVALID_SPEC, `${where} ${e?.message ?? 'is invalid'}`);
  }
  const raw = input as { v: 1; steps?: Step[]; output?: Partial<OutputOptions> };
  const steps = raw.steps ?? [];
  steps.forEach((s, i) => checkStep(s, i));
  return canonicalSpec({ v: SPEC_VERSION, steps, output: { format: 'original', ...raw.output } });
}

function checkStep(s: Step, i: number): void {
  const bad = (why: string): never => {
    throw new ImageError(ImageErrorCodes.INVALID_SPEC, `spec.steps.${i} (${s.op}) ${why}`);
  };
  if (s.op === 'resize') {
    if (s.width === undefined && s.height === undefined) bad('needs width or height');
    if ((s.mode === 'fill' || s.mode === 'pad') && (s.width === undefined || s.height === undefined))
      bad(`mode ${s.mode} needs width and height`);
    if (s.gravity !== undefined && s.mode !== 'fill' && s.mode !== 'pad') bad('gravity applies to fill and pad only');
    if (s.background !== undefined && s.mode !== 'pad') bad('background applies to pad only');
    if (s.mode === 'pad' && s.gravity === 'auto') bad('gravity auto applies to fill only');
  } else if (s.op === 'crop') {
    if ((s.x === undefined) !== (s.y === undefined)) bad('needs both x and y, or neither');
    if (s.x !== undefined && s.gravity !== undefined) bad('takes x/y or gravity, not both');
  }
}

/** The canonical form: defaults filled in, colours lower-cased, irrelevant options dropped. */
export function canonicalSpec(spec: TransformSpec): TransformSpec {
  const steps = spec.steps
    .map((s): Step => {
      switch (s.op) {
        case 'resize': {
          const r: ResizeStep = { op: 'resize', mode: s.mode };
          if (s.width !== undefined) r.width = s.width;
          if (s.height !== undefined) r.height = s.height;
          if (s.mode === 'fill' || s.mode === 'pad') r.gravity = s.gravity ?? 'center';
          if (s.mode === 'pad') r.background = (s.background ?? '#ffffff').toLowerCase();
          return r;
        }
        case 'crop': {
          const c: CropStep = { op: 'crop', width: s.width, height: s.height };
          if (s.x !== undefined && s.y !== undefined) {
            c.x = s.x;
            c.y = s.y;
          } else c.gravity = s.gravity ?? 'center';
          return c;
        }
        case 'rotate': {
          const angle = ((s.angle % 360) + 360) % 360;
          return angle % 90 === 0
            ? { op: 'rotate', angle }
            : { op: 'rotate', angle, background: (s.background ?? '#ffffff').toLowerCase() };
        }
        case 'flip':
          return { op: 'flip', axis: s.axis };
        case 'blur':
          return { op: 'blur', sigma: s.sigma };
        case 'grayscale':
          return { op: 'grayscale' };
        case 'round':
          return { op: 'round', radius: s.radius };
      }
    })
    .filter((s) => !(s.op === 'rotate' && s.angle === 0));
  const output: OutputOptions = { format: spec.output.format };
  if (spec.output.quality !== undefined && isLossy(spec.output.format)) output.quality = spec.output.quality;
  return { v: SPEC_VERSION, steps, output };
}

function isLossy(f: OutputFormat): boolean {
  return f === 'jpeg' || f === 'webp' || f === 'avif' || f === 'auto' || f === 'original';
}

/** JSON with keys sorted at every level: the same spec always gives the same text. */
export function canonicalJson(spec: TransformSpec): string {
  return stableStringify(canonicalSpec(spec));
}

/**
 * A short stable key (16 base64url chars of SHA-256 over the canonical JSON) for caches and derived
 * blob keys. One that would start with `-` or `_` gets a leading `0` (17 chars, so still unique): a
 * blob key segment must start with a letter or digit, and about 1 spec in 32 hashes to such a start.
 */
export function specKey(spec: TransformSpec): string {
  const key = createHash('sha256').update(canonicalJson(spec)).digest('base64url').slice(0, 16);
  return key.startsWith('-') || key.startsWith('_') ? `0${key}` : key;
}

/** URL-safe encoding of a spec (base64url of its canonical JSON), for on-the-fly URLs. */
export function encodeSpec(spec: TransformSpec): string {
  return Buffer.from(canonicalJson(spec)).toString('base64url');
}

/** Inverse of {@link encodeSpec}; validates. Throws ImageError(INVALID_SPEC). */
export function decodeSpec(encoded: string): TransformSpec {
  if (!/^[A-Za-z0-9_-]{1,4096}$/.test(encoded)) throw new ImageError(ImageErrorCodes.INVALID_SPEC, 'spec segment is not base64url');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
  } catch (err) {
    throw new ImageError(ImageErrorCodes.INVALID_SPEC, 'spec segment is not base64url JSON', { cause: err });
  }
  return parseSpec(parsed);
}

function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** What {@link resolveFormat} knows about the input besides its format. */
export interface ResolveFormatOptions {
  /**
   * The input is an animation (more than one frame). `auto` then prefers a format that carries it:
   * WebP when Accept names it, else GIF — never a still AVIF, JPEG or PNG of the first frame.
   * @defaultValue false
   */
  animated?: boolean;
}

/**
 * The concrete format `format` resolves to for an input of `inputFormat`, given what the client
 * accepts. For `auto` on a still input: avif > webp > jpeg (png for png/gif inputs), by the Accept
 * header's q-values; on an animation: webp when accepted, else gif (our encoder writes no animated
 * AVIF, and GIF is the one animated format every client decodes, so a wildcard-only Accept gets it).
 */
export function resolveFormat(
  format: OutputFormat,
  inputFormat: ImageFormat,
  accept?: string,
  options: ResolveFormatOptions = {},
): ImageFormat {
  if (format === 'original') return inputFormat;
  if (format !== 'auto') return format;
  if (accept === undefined) return 'webp';
  const { avif, webp } = acceptedImageQualities(accept);
  if (options.animated === true) return webp > 0 ? 'webp' : 'gif';
  // Named types only: a bare */* (curl, most libraries) gets the universally decodable format.
  if (avif > 0 && avif >= webp) return 'avif';
  if (webp > 0) return 'webp';
  return inputFormat === 'png' || inputFormat === 'gif' ? 'png' : 'jpeg';
}

/**
 * The q-values an Accept header gives AVIF and WebP where it names them (RFC 9110 § 12.5.1), 0 where
 * it does not: `image/avif;q=0` means "not AVIF", so it must not be picked just for being mentioned.
 * One pass over the header, which every `auto` request on an on-the-fly URL parses.
 */
function acceptedImageQualities(accept: string): { avif: number; webp: number } {
  const q = { avif: 0, webp: 0 };
  for (const range of accept.toLowerCase().split(',')) {
    const [name, ...params] = range.split(';');
    const type = name?.trim();
    const key = type === 'image/avif' ? 'avif' : type === 'image/webp' ? 'webp' : undefined;
    if (key === undefined) continue;
    let value = 1;
    for (const p of params) {
      const [k, v] = p.split('=');
      if (k?.trim() === 'q') {
        const n = Number(v?.trim());
        value = Number.isFinite(n) ? Math.min(Math.max(n, 0), 1) : 0;
      }
    }
    q[key] = Math.max(q[key], value);
  }
  return q;
}

/** MIME type of a concrete format. */
export function mimeOf(format: ImageFormat): string {
  return `image/${format}`;
}

/** File extension of a concrete format. */
export function extOf(format: ImageFormat): string {
  return format === 'jpeg' ? 'jpg' : format;
}

/** Shorthand builder for the common case: one resize and an output. */
export function resizeSpec(
  mode: ResizeMode,
  width: number | undefined,
  height: number | undefined,
  output: OutputOptions = { format: 'original' },
): TransformSpec {
  const step: ResizeStep = { op: 'resize', mode };
  if (width !== undefined) step.width = width;
  if (height !== undefined) step.height = height;
  return parseSpec({ v: SPEC_VERSION, steps: [step], output });
}
