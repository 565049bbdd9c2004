import type { JsonValue } from '@tributary/protocol';
import type { ImageBackend, SourceInspector, TransformResult, WantedVersion } from './backend.js';
import { assertBlobKey, type BlobStore } from './blobs.js';
import { ImageError, ImageErrorCodes, isImageError, type ImageErrorCode } from './errors.js';
import { extOf, parseSpec, type TransformSpec } from './spec.js';

/** What `ctx.call('images', …)` returns: results, or a typed error (never a throw for image problems). */
export type TransformOutcome =
  | { ok: true; source: { key: string; url: string; contentType: string; bytes: number }; results: TransformResult[] }
  | { ok: false; error: { code: ImageErrorCode; message: string } };

/** Options of {@link ImageService}. */
export interface ImageServiceOptions {
  store: BlobStore;
  /** Which backend transforms: a SharpBackend, a CloudinaryBackend, or any other {@link ImageBackend}. */
  backend: ImageBackend;
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
   * Checks a source against the image limits (format, bytes, pixels, frames) before a backend sends
   * it out of the process (Cloudinary), so a pixel bomb or a non-image is refused here with the same
   * typed error the sharp backend gives, not sent out. {@link createImages} passes its SharpBackend.
   * Unused by sharp, which checks every input itself.
   */
  inspector?: SourceInspector;
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
 * messages. It resolves presets and specs and names derived keys and URLs; how the versions are made
 * is the backend's ({@link ImageBackend}): with sharp, outputs are written to the blob store under
 * derived keys; with Cloudinary, the source is uploaded once with every spec as an eager
 * transformation and Cloudinary's URLs are returned.
 */
export class ImageService {
  readonly store: BlobStore;
  readonly backend: ImageBackend;
  readonly presets: ReadonlyMap<string, TransformSpec>;
  readonly publicUrl: string;
  readonly derivedPrefix: string;
  readonly #inspector: SourceInspector | undefined;

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
    const wanted: WantedVersion[] = [];
    for (const name of req.presets ?? []) {
      const spec = this.presets.get(name);
      if (spec === undefined)
        throw new ImageError(
          ImageErrorCodes.INVALID_SPEC,
          `no preset ${JSON.stringify(name)} (known: ${[...this.presets.keys()].join(', ') || 'none'})`,
        );
      wanted.push({ name, spec });
    }
    for (const [name, spec] of Object.entries(req.specs ?? {})) wanted.push({ name, spec: parseSpec(spec) });
    if (wanted.length === 0) throw new ImageError(ImageErrorCodes.INVALID_SPEC, 'name at least one preset or spec');
    const { source: info, results } = await this.backend.makeVersions({
      store: this.store,
      key: req.key,
      wanted,
      derivedKey: (sk, format) => `${this.derivedPrefix}/${sk}/${req.key}.${extOf(format)}`,
      blobUrl: (key) => this.blobUrl(key),
      inspector: this.#inspector,
    });
    return { ok: true, source: { key: req.key, url: this.blobUrl(req.key), contentType: info.contentType, bytes: info.bytes }, results };
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
        if (typeof a.specs !== 'object' || a.specs === null || Array.isArray(a.specs))
          return invalid('specs must be an object of name → spec');
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
