import { defineBlock, type BlockMessage, type JsonValue } from '@tributary/block';

/** Configuration of image-transform (block.json `config`). */
export interface ImageTransformConfig {
  /** Named transform specs (see docs/IMAGES.md); every one is made for each new object. */
  presets: Record<string, JsonValue>;
  /** Channel results are published to. @defaultValue 'images.results' */
  output: string;
  /** Channel error events are published to. @defaultValue 'images.errors' */
  errors: string;
  /** Only objects whose key starts with this are transformed (derived images never are). @defaultValue 'uploads/' */
  keyPrefix: string;
}

/** The message published to `output` for each transformed object. */
export interface ImageTransformed {
  type: 'image.transformed';
  key: string;
  /** The request's `id`, for explicit requests that gave one. */
  id?: string;
  source: { key: string; url: string; contentType: string; bytes: number };
  /** One per preset: `{name, key, url, width, height, format, bytes, spec, backend}`. */
  results: JsonValue[];
}

/** The message published to `errors` when an object cannot be transformed. */
export interface ImageFailed {
  type: 'image.failed';
  key: string | null;
  id?: string;
  /** An ImageError code (INVALID_SPEC, UNSUPPORTED_FORMAT, INPUT_TOO_LARGE, CORRUPT_INPUT, TIMEOUT, BACKEND_ERROR, NOT_FOUND …) or INVALID_REQUEST. */
  error: { code: string; message: string };
}

export const DEFAULT_OUTPUT = 'images.results';
export const DEFAULT_ERRORS = 'images.errors';
/** Where explicit transform requests arrive: `{ key, presets?: string[], spec?: <spec>, id?: string }`. */
export const REQUEST_CHANNEL = 'images.requests';
/** Where the blob store announces new objects. */
export const OBJECTS_CHANNEL = '$objects.created';

/** Validates the block's config, naming the bad field. */
export function resolveConfig(c: Readonly<Record<string, JsonValue>>): ImageTransformConfig {
  const presets = c.presets ?? {};
  if (typeof presets !== 'object' || presets === null || Array.isArray(presets))
    throw new TypeError('config.presets must be an object of name → spec');
  const str = (field: string, dflt: string): string => {
    const v = c[field] ?? dflt;
    if (typeof v !== 'string') throw new TypeError(`config.${field} must be a string`);
    return v;
  };
  const output = str('output', DEFAULT_OUTPUT);
  const errors = str('errors', DEFAULT_ERRORS);
  for (const [f, ch] of [
    ['output', output],
    ['errors', errors],
  ] as const) {
    if (!ch.startsWith('images.') || ch === REQUEST_CHANNEL)
      throw new TypeError(`config.${f} must be an images.* channel other than ${REQUEST_CHANNEL}`);
  }
  return { presets: presets as Record<string, JsonValue>, output, errors, keyPrefix: str('keyPrefix', 'uploads/') };
}

type Job =
  | { key: string; id?: string; specs: Record<string, JsonValue> }
  | { skip: string }
  | { invalid: string; key: string | null; id?: string };

/** What to do with a message: a job, a silent skip (not ours), or an invalid request to report. */
export function jobOf(msg: Pick<BlockMessage, 'channel' | 'data'>, cfg: ImageTransformConfig): Job {
  const d = msg.data;
  if (typeof d !== 'object' || d === null || Array.isArray(d)) {
    return msg.channel === OBJECTS_CHANNEL ? { skip: 'not an object event' } : { invalid: 'request must be an object', key: null };
  }
  const key = typeof d.key === 'string' ? d.key : null;
  if (msg.channel === OBJECTS_CHANNEL) {
    if (d.type !== 'object.created' || key === null || !key.startsWith(cfg.keyPrefix)) return { skip: 'not a new upload' };
    if (typeof d.contentType !== 'string' || !d.contentType.startsWith('image/')) return { skip: 'not an image' };
    return { key, specs: cfg.presets };
  }
  const id = typeof d.id === 'string' ? d.id.slice(0, 128) : undefined;
  const base = id === undefined ? {} : { id };
  if (key === null) return { invalid: 'request needs a key', key: null, ...base };
  let specs: Record<string, JsonValue> = {};
  if (d.presets !== undefined) {
    if (!Array.isArray(d.presets)) return { invalid: 'presets must be a list of names', key, ...base };
    for (const name of d.presets) {
      const spec = typeof name === 'string' ? cfg.presets[name] : undefined;
      if (spec === undefined) return { invalid: `unknown preset ${JSON.stringify(name)}`, key, ...base };
      specs[name as string] = spec;
    }
  }
  if (d.spec !== undefined) specs.custom = d.spec;
  if (d.presets === undefined && d.spec === undefined) specs = cfg.presets;
  return { key, specs, ...base };
}

type Outcome =
  | { ok: true; source: ImageTransformed['source']; results: JsonValue[] }
  | { ok: false; error: { code: string; message: string } };

export default defineBlock({
  name: 'image-transform',
  trigger: { afterPublish: [OBJECTS_CHANNEL, REQUEST_CHANNEL] },
  publishes: ['images.>'],
  // A transform runs in the host (sharp or Cloudinary), not in the isolate: CPU stays small, wall time
  // is the transform's.
  limits: { wallMs: 60_000, callsPerInvocation: 10 },
  // Transforms wait on the host (sharp's thread pool, the disk, Cloudinary): two at a time per runner
  // keep a core busy while the other waits. Uploads are independent, so their order does not matter.
  concurrency: 2,
  async handle(msg, ctx) {
    const cfg = resolveConfig(ctx.config);
    const job = jobOf(msg, cfg);
    // The same msgId on a retry: subscribers see each outcome once.
    const msgId = `image-transform:${msg.channel}:${msg.epoch}:${msg.offset}`;
    if ('skip' in job) return;
    if ('invalid' in job) {
      const failed: ImageFailed = { type: 'image.failed', key: job.key, error: { code: 'INVALID_REQUEST', message: job.invalid } };
      if (job.id !== undefined) failed.id = job.id;
      await ctx.publish(cfg.errors, failed as unknown as JsonValue, { msgId });
      return;
    }
    const out = await ctx.call<Outcome>('images', 'transform', { key: job.key, specs: job.specs });
    if (out.ok) {
      const done: ImageTransformed = { type: 'image.transformed', key: job.key, source: out.source, results: out.results };
      if (job.id !== undefined) done.id = job.id;
      await ctx.publish(cfg.output, done as unknown as JsonValue, { msgId });
      return;
    }
    const failed: ImageFailed = { type: 'image.failed', key: job.key, error: out.error };
    if (job.id !== undefined) failed.id = job.id;
    await ctx.publish(cfg.errors, failed as unknown as JsonValue, { msgId });
    ctx.log.warn('transform failed', { key: job.key, code: out.error.code });
    // A backend failure may be transient (Cloudinary unreachable): retry; the error event above is
    // deduplicated by msgId, and a later success still publishes its results.
    if (out.error.code === 'BACKEND_ERROR') throw new Error(`backend error: ${out.error.message}`);
  },
});
