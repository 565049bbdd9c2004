import type { JsonValue } from '@tributary/protocol';
import { assertBlobKey, type BlobStore } from './blobs.js';
import type { CloudinaryBackend } from './cloudinary-backend.js';
import { ImageError, ImageErrorCodes, isImageError, type ImageErrorCode } from './errors.js';
import { readInput } from './input.js';
import type { SharpBackend } from './sharp-backend.js';
import { extOf, parseSpec, specKey, type ImageFormat, type TransformSpec } from './spec.js';

/** A transform result: what the image-transform block publishes for each output. */
export interface TransformResult {
  /** The preset's name, or `custom` for an inline spec. */
  name: string;
  /** Derived blob key (sharp backend) or Cloudinary public id. */
  key: string;
  /** Where to fetch it: `<publicUrl>/v1/blobs/<key>` (sharp) or Cloudinary's secure_url. */
  url: string;
  width: number;
  height: number;
  format: ImageFormat;
  bytes: number;
  /** Short stable key of the canonical spec. */
  spec: string;
  backend: 'sharp' | 'cloudinary';
}

/** What `ctx.call('images', …)` returns: results, or a typed error (never a throw for image problems). */
export type TransformOutcome =
  | { ok: true; source: { key: string; url: string; contentType: string; bytes: number }; results: TransformResult[] }
  | { ok: false; error: { code: ImageErrorCode; message: string } };

/** Options of {@link ImageService}. */
export interface ImageServiceOptions {
  store: BlobStore;
  /** Which backend transforms. */
  backend: SharpBackend | CloudinaryBackend;
  /** Named specs blocks may ask for by name. Validated at construction. */
  presets?: Record<string, unknown>;
  /**
   * Base URL put in front of `/v1/blobs/<key>` in results (e.g. `https://media.example.com`). Without
   * it, URLs are root-relative, which suits pages served by the broker itself.
   * @defaultValue ''
   */
  publicUrl?: string;
  /**
   * Prefix of derived blob keys: `<prefix>/<spec key>/<source key>.<ext>`.
   * @defaultValue 'derived'
   */
  derivedPrefix?: string;
  /**
   * Checks a source against the image limits (format, bytes, pixels, frames) before it is uploaded to
   * Cloudinary, so a pixel bomb or a non-image is refused here with the same typed error the sharp
   * backend gives, not sent out. {@link createImages} passes its SharpBackend. Unused with sharp.
   */
  inspector?: Pick<SharpBackend, 'probe'>;
}

/** One request: which specs to make of which stored object. */
export interface TransformRequest {
  key: string;
  /** Preset names. */
  presets?: string[];
  /** Inline specs by name (validated). */
  specs?: Record<string, unknown>;
}

/**
 * Makes transformed versions of stored objects with the configured backend and returns result
 * messages. With sharp, outputs are written to the blob store under derived keys; with Cloudinary, the
 * source is uploaded once with every spec as an eager transformation and Cloudinary's URLs are returned.
 */
export class ImageService {
  readonly store: BlobStore;
  readonly backend: SharpBackend | CloudinaryBackend;
  readonly presets: ReadonlyMap<string, TransformSpec>;
  readonly publicUrl: string;
  readonly derivedPrefix: string;
  readonly #inspector: Pick<SharpBackend, 'probe'> | undefined;

  constructor(o: ImageServiceOptions) {
    this.store = o.store;
    this.#inspector = o.inspector;
    this.backend = o.backend;
    this.publicUrl = (o.publicUrl ?? '').replace(/\/+$/, '');
    this.derivedPrefix = o.derivedPrefix ?? 'derived';
    assertBlobKey(`${this.derivedPrefix}/x`);
    const presets = new Map<string, TransformSpec>();
    for (const [name, spec] of Object.entries(o.presets ?? {})) {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw new TypeError(`preset name ${JSON.stringify(name)} must be 1–64 of A-Z a-z 0-9 _ -`);
      try {
        presets.set(name, parseSpec(spec));
      } catch (err) {
        throw new TypeError(`presets.${name}: ${(err as Error).message}`);
      }
    }
    this.presets = presets;
  }

  /** URL of a blob key. */
  blobUrl(key: string): string {
    return `${this.publicUrl}/v1/blobs/${key}`;
  }

  /** Runs a request; throws ImageError. */
  async transform(req: TransformRequest): Promise<Extract<TransformOutcome, { ok: true }>> {
    assertBlobKey(req.key);
    const wanted: Array<{ name: string; spec: TransformSpec }> = [];
    for (const name of req.presets ?? []) {
      const spec = this.presets.get(name);
      if (spec === undefined) throw new ImageError(ImageErrorCodes.INVALID_SPEC, `no preset ${JSON.stringify(name)} (known: ${[...this.presets.keys()].join(', ') || 'none'})`);
      wanted.push({ name, spec });
    }
    for (const [name, spec] of Object.entries(req.specs ?? {})) wanted.push({ name, spec: parseSpec(spec) });
    if (wanted.length === 0) throw new ImageError(ImageErrorCodes.INVALID_SPEC, 'name at least one preset or spec');
    if (this.backend.kind === 'cloudinary') {
      const obj = await this.store.get(req.key);
      if (obj === undefined) throw new ImageError(ImageErrorCodes.NOT_FOUND, `no object ${req.key}`);
      const source = { key: req.key, url: this.blobUrl(req.key), contentType: obj.info.contentType, bytes: obj.info.bytes };
      // Cloudinary keeps an animation for every output but JPEG and PNG: then all frames count.
      const stillOnly = wanted.every((w) => w.spec.output.format === 'jpeg' || w.spec.output.format === 'png');
      await this.#inspector?.probe(obj.data, { frames: stillOnly ? 'first' : 'all' });
      const out = await this.backend.upload(obj.data, req.key, wanted.map((w) => w.spec));
      return {
        ok: true,
        source,
        results: out.map((r, i) => ({
          name: wanted[i]!.name,
          key: r.publicId,
          url: r.url,
          width: r.width,
          height: r.height,
          format: r.format,
          bytes: r.bytes,
          spec: specKey(wanted[i]!.spec),
          backend: 'cloudinary' as const,
        })),
      };
    }
    const obj = await readInput(this.store, req.key);
    const source = { key: req.key, url: this.blobUrl(req.key), contentType: obj.info.contentType, bytes: obj.info.bytes };
    const results: TransformResult[] = [];
    for (const { name, spec } of wanted) {
      const out = await this.backend.render(obj.input, spec);
      const sk = specKey(spec);
      const key = `${this.derivedPrefix}/${sk}/${req.key}.${extOf(out.format)}`;
      await this.store.put(key, out.data, `image/${out.format}`);
      results.push({ name, key, url: this.blobUrl(key), width: out.width, height: out.height, format: out.format, bytes: out.bytes, spec: sk, backend: 'sharp' });
    }
    return { ok: true, source, results };
  }

  /** Like {@link transform} but image failures come back as `{ ok: false, error }`. */
  async outcome(req: TransformRequest): Promise<TransformOutcome> {
    try {
      return await this.transform(req);
    } catch (err) {
      if (isImageError(err)) return { ok: false, error: err.toJSON() };
      // Anything else (a disk error, a bug in a backend) is still the backend's failure to the block.
      return { ok: false, error: { code: ImageErrorCodes.BACKEND_ERROR, message: (err as Error).message } };
    }
  }
}

/** The host module shape the runtime accepts (structurally the runtime's HostModule). */
export type ImagesHostModule = Readonly<Record<string, (args: JsonValue, caller: { block: string }) => Promise<JsonValue>>>;

/**
 * The `images` host module for blocks:
 * - `ctx.call('images', 'transform', { key, presets?: string[], specs?: { name: spec } })` →
 *   {@link TransformOutcome} (`{ ok: true, source, results }` or `{ ok: false, error: { code, message } }`);
 * - `ctx.call('images', 'presets', {})` → `{ presets: { name: canonical spec } }`.
 * Image failures are returned, not thrown, so a block sees the ImageError code (a thrown host error
 * reaches the isolate only as HOST_REFUSED). Bad arguments from the block are INVALID_SPEC outcomes.
 */
export function imagesModule(service: ImageService): ImagesHostModule {
  return {
    async transform(args) {
      const a = (args ?? {}) as Record<string, unknown>;
      const req: TransformRequest = { key: a.key as string };
      if (a.presets !== undefined) {
        if (!Array.isArray(a.presets) || !a.presets.every((p) => typeof p === 'string')) return invalid('presets must be a list of names');
        req.presets = a.presets as string[];
      }
      if (a.preset !== undefined) {
        if (typeof a.preset !== 'string') return invalid('preset must be a name');
        req.presets = [...(req.presets ?? []), a.preset];
      }
      if (a.specs !== undefined) {
        if (typeof a.specs !== 'object' || a.specs === null || Array.isArray(a.specs)) return invalid('specs must be an object of name → spec');
        req.specs = a.specs as Record<string, unknown>;
      }
      if (a.spec !== undefined) req.specs = { ...req.specs, custom: a.spec };
      return (await service.outcome(req)) as unknown as JsonValue;
    },
    async presets() {
      return { presets: Object.fromEntries(service.presets) } as unknown as JsonValue;
    },
  };
}

function invalid(message: string): JsonValue {
  return { ok: false, error: { code: ImageErrorCodes.INVALID_SPEC, message } };
}
