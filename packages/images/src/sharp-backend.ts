import sharp from 'sharp';
import { keepsAnimation, type Animation } from './animation.js';
import type { ImageBackend, TransformResult, Versions, VersionsRequest } from './backend.js';
import { readInput, type ImageInput } from './input.js';
import { checkTotalPixels } from './limit-checks.js';
import { resolveImageLimits, type ImageLimits } from './limits.js';
import { runPipeline, type RenderedImage } from './pipeline.js';
import { assertInputBytes, probeImage, quickProbe, type ImageProbe } from './probe.js';
import { transformTimeout } from './sharp-errors.js';
import { Slots } from './slots.js';
import { resolveSyncReadMaxBytes, SourceReader } from './source-reader.js';
import { resolveFormat, specKey, type ImageFormat, type TransformSpec } from './spec.js';

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

/** Options of one render. */
export interface RenderOptions {
  /** The client's Accept header, for `format: 'auto'`. */
  accept?: string;
}

/**
 * Transforms images in-process with sharp (libvips). Every input is sniffed, probed from its header
 * and checked against {@link ImageLimits} before decoding; decoding runs with `limitInputPixels`,
 * `failOn: 'error'` (truncated or corrupt data fails) and sharp's timeout, under an overall deadline.
 * Animated GIF/WebP stay animated when the output format is gif or webp; other outputs take the first
 * frame. Steps run one pass each on raw frames (see {@link runPipeline}); a leading resize of a still
 * image is folded into the decode (shrink-on-load). This class schedules: slots, the animation gate,
 * the deadline and pooled source reads.
 */
export class SharpBackend implements ImageBackend {
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
  probe(input: ImageInput, options: { frames?: 'all' | 'first' } = {}): Promise<ImageProbe> {
    return probeImage(input, this.limits, options);
  }

  /** Applies `spec` to `data`. Throws ImageError (never hangs past `timeoutMs`). */
  async render(input: ImageInput, spec: TransformSpec, options: RenderOptions = {}): Promise<RenderedImage> {
    const deadline = Date.now() + this.limits.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(transformTimeout(this.limits.timeoutMs)), this.limits.timeoutMs);
    });
    const work = this.#slots
      .run(() => this.#withSource(input, deadline, (src) => this.#renderStill(src, spec, options, deadline)))
      .then((r) =>
        // An animation: its slot was given back; its turn at the gate first, then a slot again. Gate
        // before slot, always, and a still image never waits for the gate: no cycle, and a burst of
        // animations cannot hold every slot while one of them works.
        'animation' in r
          ? this.#animations.run(() =>
              this.#slots.run(() =>
                this.#withSource(input, deadline, (src) =>
                  runPipeline(
                    { input: src, spec, probe: r.animation.probe, format: r.animation.format, animated: true, deadline },
                    this.limits,
                  ),
                ),
              ),
            )
          : r,
      );
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Renders each wanted version of a stored object and puts it in the store under its derived key. */
  async makeVersions(req: VersionsRequest): Promise<Versions> {
    // A store without local files (S3) hands over the whole object: its size is checked first, so
    // one over maxInputBytes is refused without being fetched into memory (one HEAD per job).
    if (req.store.file === undefined) {
      const info = await req.store.head(req.key);
      if (info !== undefined) assertInputBytes(info.bytes, this.limits);
    }
    const obj = await readInput(req.store, req.key);
    const results: TransformResult[] = [];
    for (const { name, spec } of req.wanted) {
      const out = await this.render(obj.input, spec);
      const sk = specKey(spec);
      const key = req.derivedKey(sk, out.format);
      await req.store.put(key, out.data, `image/${out.format}`);
      results.push({
        name,
        key,
        url: req.blobUrl(key),
        width: out.width,
        height: out.height,
        format: out.format,
        bytes: out.bytes,
        spec: sk,
        backend: 'sharp',
      });
    }
    return { source: obj.info, results };
  }

  /** Runs `use` on the input's bytes (a stored file read into a pooled buffer when small enough). */
  async #withSource<T>(input: ImageInput, deadline: number, use: (src: ImageInput) => Promise<T>): Promise<T> {
    // Its caller gave up while it waited for a slot or its turn: do not spend a core on it.
    if (Date.now() >= deadline) throw transformTimeout(this.limits.timeoutMs);
    const pooled = Buffer.isBuffer(input) ? undefined : this.#reader.read(input.path, input.bytes);
    try {
      return await use(pooled?.data ?? input);
    } finally {
      // Only now is libvips done with the bytes (a render that timed out above is still running here).
      pooled?.release();
    }
  }

  /** Probes and renders a still image; an animation to keep comes back as its probe, for {@link render} to queue. */
  async #renderStill(
    input: ImageInput,
    spec: TransformSpec,
    options: RenderOptions,
    deadline: number,
  ): Promise<RenderedImage | { animation: Animation }> {
    const probe = quickProbe(input, spec.steps[0], this.limits) ?? (await this.probe(input, { frames: 'first' }));
    const inputFormat: ImageFormat = probe.format === 'tiff' ? 'png' : probe.format;
    const format = resolveFormat(spec.output.format, inputFormat, options.accept, { animated: probe.pages > 1 });
    if (keepsAnimation(probe, format)) {
      checkTotalPixels(probe.width * probe.height * probe.pages, this.limits);
      return { animation: { probe, format } };
    }
    return runPipeline({ input, spec, probe, format, animated: false, deadline }, this.limits);
  }
}
