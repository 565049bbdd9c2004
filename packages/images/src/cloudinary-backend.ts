import { Agent as HttpAgent } from 'node:http';
import { v2 as cloudinary, type UploadApiErrorResponse, type UploadApiOptions, type UploadApiResponse } from 'cloudinary';
import type { ImageBackend, Versions, VersionsRequest } from './backend.js';
import { countFrames, isAnimated } from './animation.js';
import { fromCloudinaryFormat, toCloudinaryTransformation } from './cloudinary-map.js';
import { ImageError, ImageErrorCodes } from './errors.js';
import { specKey, type ImageFormat, type TransformSpec } from './spec.js';

/** Credentials and endpoint of a Cloudinary account. */
export interface CloudinaryConfig {
  cloudName: string;
  apiKey: string;
  apiSecret: string;
  /**
   * API base URL. Tests point it at the test kit's fake server (`http://127.0.0.1:<port>`).
   * @defaultValue 'https://api.cloudinary.com'
   */
  uploadPrefix?: string;
  /** @defaultValue 'sha1' (Cloudinary's default; set 'sha256' if the account is configured for it) */
  signatureAlgorithm?: 'sha1' | 'sha256';
  /** Prefix of public ids (a Cloudinary folder). */
  folder?: string;
  /** Upload timeout, ms. @defaultValue 60_000 */
  timeoutMs?: number;
  /**
   * Most frames of a source whose animation an output keeps (GIF, WebP). Cloudinary truncates a
   * synchronous transformation of a longer animation to 100 frames ("If your original GIF is longer
   * than 100 frames … the derived GIF will be truncated to 100 frames",
   * https://cloudinary.com/documentation/animated_images, "Length limitations"), and eager results are
   * requested synchronously here (their sizes come back in the upload's answer), so a longer source
   * is refused with INPUT_TOO_LARGE before upload instead of coming back silently shortened. Outputs
   * that take the first frame (JPEG, PNG) are not concerned.
   * @defaultValue 100
   */
  maxAnimatedFrames?: number;
}

/** Cloudinary's frame limit for synchronous transformations of animations. */
export const CLOUDINARY_SYNC_MAX_FRAMES = 100;

/**
 * Parses `cloudinary://<api_key>:<api_secret>@<cloud_name>?upload_prefix=…&signature_algorithm=…`
 * (the CLOUDINARY_URL format of Cloudinary's SDKs).
 */
export function parseCloudinaryUrl(text: string): CloudinaryConfig {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new TypeError('CLOUDINARY_URL must look like cloudinary://<api_key>:<api_secret>@<cloud_name>');
  }
  if (u.protocol !== 'cloudinary:' || u.username === '' || u.password === '' || u.hostname === '') {
    throw new TypeError('CLOUDINARY_URL must look like cloudinary://<api_key>:<api_secret>@<cloud_name>');
  }
  let c: CloudinaryConfig;
  try {
    c = { cloudName: u.hostname, apiKey: decodeURIComponent(u.username), apiSecret: decodeURIComponent(u.password) };
  } catch {
    throw new TypeError('CLOUDINARY_URL: the api key or secret has broken percent-encoding');
  }
  const prefix = u.searchParams.get('upload_prefix');
  if (prefix !== null) c.uploadPrefix = prefix;
  const algo = u.searchParams.get('signature_algorithm');
  if (algo === 'sha1' || algo === 'sha256') c.signatureAlgorithm = algo;
  else if (algo !== null) throw new TypeError(`signature_algorithm must be sha1 or sha256, got ${algo}`);
  return c;
}

/** One output made by Cloudinary (an eager transformation, or the upload itself for an empty spec). */
export interface CloudinaryResult {
  url: string;
  width: number;
  height: number;
  format: ImageFormat;
  bytes: number;
  /** The transformation string Cloudinary applied (`""` for the original). */
  transformation: string;
  publicId: string;
}

/**
 * Transforms by uploading to Cloudinary with the official SDK: one signed upload per source, with the
 * specs as eager transformations (computed synchronously, so the response carries their sizes).
 * Configured per instance — nothing global — so several accounts (or a fake) can coexist.
 */
export class CloudinaryBackend implements ImageBackend {
  readonly kind = 'cloudinary' as const;
  readonly config: Readonly<CloudinaryConfig>;
  readonly #agent: HttpAgent | undefined;

  constructor(config: CloudinaryConfig) {
    for (const f of ['cloudName', 'apiKey', 'apiSecret'] as const) {
      if (typeof config[f] !== 'string' || config[f] === '') throw new TypeError(`cloudinary.${f} is required`);
    }
    const frames = config.maxAnimatedFrames ?? CLOUDINARY_SYNC_MAX_FRAMES;
    if (!Number.isSafeInteger(frames) || frames < 1 || frames > CLOUDINARY_SYNC_MAX_FRAMES)
      throw new TypeError(
        `cloudinary.maxAnimatedFrames must be an integer 1–${CLOUDINARY_SYNC_MAX_FRAMES}, got ${String(config.maxAnimatedFrames)}`,
      );
    this.config = { ...config, maxAnimatedFrames: frames };
    // The SDK picks http or https once, at load, from the global CLOUDINARY_URL. An http.Agent passed
    // per request makes plain-http endpoints (the test kit's fake) work without touching globals.
    this.#agent = config.uploadPrefix?.startsWith('http:') === true ? new HttpAgent({ keepAlive: false }) : undefined;
  }

  /**
   * Uploads the stored object once with every wanted spec as an eager transformation; the results
   * are Cloudinary's URLs (nothing is stored here). The source is checked by `req.inspector` first.
   */
  async makeVersions(req: VersionsRequest): Promise<Versions> {
    const obj = await req.store.get(req.key);
    if (obj === undefined) throw new ImageError(ImageErrorCodes.NOT_FOUND, `no object ${req.key}`);
    // Cloudinary keeps an animation for every output but JPEG and PNG: then all frames count.
    const stillOnly = req.wanted.every((w) => w.spec.output.format === 'jpeg' || w.spec.output.format === 'png');
    const probe = await req.inspector?.probe(obj.data, { frames: stillOnly ? 'first' : 'all' });
    const pages = probe?.pages ?? countFrames(obj.data);
    const source = fromCloudinaryFormat(obj.info.contentType.replace(/^image\//, '')) ?? 'png';
    const max = this.config.maxAnimatedFrames ?? CLOUDINARY_SYNC_MAX_FRAMES;
    if (pages > max && req.wanted.some((w) => keepsAnimationOn(w.spec, source))) {
      throw new ImageError(
        ImageErrorCodes.INPUT_TOO_LARGE,
        `input has ${pages} frames; Cloudinary transforms at most ${max} frames of an animation synchronously (ask for a JPEG or PNG of it, or use the sharp backend)`,
        { details: { limit: 'maxAnimatedFrames', value: pages, max } },
      );
    }
    const out = await this.upload(
      obj.data,
      req.key,
      req.wanted.map((w) => w.spec),
      { animated: pages > 1 },
    );
    return {
      source: obj.info,
      results: out.map((r, i) => ({
        name: req.wanted[i]!.name,
        key: r.publicId,
        url: r.url,
        width: r.width,
        height: r.height,
        format: r.format,
        bytes: r.bytes,
        spec: specKey(req.wanted[i]!.spec),
        backend: 'cloudinary' as const,
      })),
    };
  }

  /**
   * Uploads `data` as `publicId` with one eager transformation per spec; results in spec order.
   * `source.animated` (the source has several frames; by default read from `data`'s container) adds the
   * flags that keep WebP outputs animated.
   */
  async upload(
    data: Buffer,
    publicId: string,
    specs: readonly TransformSpec[],
    source: { animated?: boolean } = {},
  ): Promise<CloudinaryResult[]> {
    const animated = source.animated ?? isAnimated(data);
    const transformations = specs.map((s) => toCloudinaryTransformation(s, { context: 'eager', animated }));
    const eager = transformations.filter((t) => t !== '');
    const options: UploadApiOptions = {
      api_key: this.config.apiKey,
      api_secret: this.config.apiSecret,
      cloud_name: this.config.cloudName,
      resource_type: 'image',
      public_id: this.config.folder === undefined ? publicId : `${this.config.folder}/${publicId}`,
      overwrite: true,
      timeout: this.config.timeoutMs ?? 60_000,
    };
    if (eager.length > 0) options.eager = eager.join('|');
    if (this.config.uploadPrefix !== undefined) options.upload_prefix = this.config.uploadPrefix;
    if (this.config.signatureAlgorithm !== undefined)
      (options as Record<string, unknown>).signature_algorithm = this.config.signatureAlgorithm;
    if (this.#agent !== undefined) (options as Record<string, unknown>).agent = this.#agent;
    const res = await new Promise<UploadApiResponse>((resolve, reject) => {
      const stream = cloudinary.uploader.upload_stream(options, (err, result) => {
        if (err !== undefined || result === undefined) reject(mapCloudinaryError(err));
        else resolve(result);
      });
      stream.end(data);
    });
    const eagerOut = (res.eager ?? []) as Array<Record<string, unknown>>;
    return transformations.map((t) => {
      if (t === '') return resultOf(res as unknown as Record<string, unknown>, '', res.public_id);
      const e = eagerOut.find((x) => x.transformation === t) ?? eagerOut[eager.indexOf(t)];
      if (e === undefined) throw new ImageError(ImageErrorCodes.BACKEND_ERROR, `Cloudinary returned no eager result for ${t}`);
      return resultOf(e, t, res.public_id);
    });
  }
}

/** True when Cloudinary's output of `spec` keeps a source's animation: GIF or WebP, named or by default. */
function keepsAnimationOn(spec: TransformSpec, source: ImageFormat): boolean {
  const f = spec.output.format === 'auto' ? 'webp' : spec.output.format === 'original' ? source : spec.output.format;
  return f === 'gif' || f === 'webp';
}

function resultOf(r: Record<string, unknown>, transformation: string, publicId: string): CloudinaryResult {
  const format = typeof r.format === 'string' ? fromCloudinaryFormat(r.format) : undefined;
  const url = typeof r.secure_url === 'string' ? r.secure_url : r.url;
  if (typeof url !== 'string' || typeof r.width !== 'number' || typeof r.height !== 'number' || format === undefined) {
    throw new ImageError(ImageErrorCodes.BACKEND_ERROR, `unexpected Cloudinary response for ${transformation || 'the upload'}`);
  }
  return { url, width: r.width, height: r.height, format, bytes: typeof r.bytes === 'number' ? r.bytes : 0, transformation, publicId };
}

/** The one place Cloudinary's error replies become ImageErrors: by HTTP status; the text only tells a bad image from other 400s. */
export function mapCloudinaryError(err: unknown): ImageError {
  if (err instanceof ImageError) return err;
  const e = (err ?? {}) as Partial<UploadApiErrorResponse> & { error?: { code?: string } };
  const status = typeof e.http_code === 'number' ? e.http_code : 0;
  const message = `Cloudinary upload failed${status === 0 ? '' : ` (HTTP ${status})`}: ${e.message ?? String(err)}`;
  if (e.error?.code === 'ETIMEDOUT' || e.name === 'TimeoutError' || status === 499) {
    return new ImageError(ImageErrorCodes.TIMEOUT, message, { cause: err, details: { status } });
  }
  if (status === 400 && /invalid image file/i.test(e.message ?? '')) {
    return new ImageError(ImageErrorCodes.CORRUPT_INPUT, message, { cause: err, details: { status } });
  }
  return new ImageError(ImageErrorCodes.BACKEND_ERROR, message, { cause: err, details: { status } });
}
