import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import sharp from 'sharp';
import { isAnimated } from './animation.js';
import { assertBlobKey, type BlobInfo, type BlobStore } from './blobs.js';
import { ImageError, ImageErrorCodes } from './errors.js';
import { head as readHeadOf, readInput, readWhole, type ImageInput } from './input.js';
import { assertInputBytes } from './probe.js';
import type { CachedImage, DiskLruCache } from './lru-cache.js';
import type { SharpBackend } from './sharp-backend.js';
import { canonicalJson, decodeSpec, encodeSpec, extOf, mimeOf, resolveFormat, type ImageFormat, type TransformSpec } from './spec.js';

// The LRU lives in its own file; these names stay importable from here, where they always were.
export { DiskLruCache, type CachedImage } from './lru-cache.js';

/** A URL signing key; the id is part of every signature so keys can rotate. */
export interface SigningKey {
  /** 1–16 characters of `A-Z a-z 0-9 _ -`. */
  id: string;
  /** ≥ 32 bytes. */
  secret: string;
}

const KEY_ID = /^[A-Za-z0-9_-]{1,16}$/;

/**
 * The URL signing key derived from a broker secret (id `d1`). Derived, not the secret itself: an image
 * URL key must not double as the broker's admin credential. The CLI derives the same key to sign URLs
 * offline, as `tributary token` signs tokens.
 */
export function deriveSigningKey(secret: string): SigningKey {
  return { id: 'd1', secret: createHash('sha256').update(`tributary image urls\n${secret}`).digest('hex') };
}

/**
 * Signing keys from their list form `id:secret,id:secret…`, newest first (the first signs, all
 * verify). Throws TypeError naming the bad entry by its position, never by its content: these
 * messages reach logs, and an entry's text may be all or part of a secret.
 */
export function parseSigningKeys(text: string): SigningKey[] {
  const keys = text.split(',').map((part, i) => {
    const colon = part.indexOf(':');
    const id = part.slice(0, colon).trim();
    if (colon <= 0 || !KEY_ID.test(id))
      throw new TypeError(`signing key #${i + 1} must be id:secret, with an id of 1–16 of A-Z a-z 0-9 _ -`);
    return { id, secret: part.slice(colon + 1).trim() };
  });
  new UrlSigner(keys); // checks lengths and duplicates, naming only the (validated) ids
  return keys;
}

/**
 * Signs and verifies on-the-fly image URLs: `/v1/images/<kid>.<mac>/<spec>/<key>`, where `mac` is
 * base64url HMAC-SHA256 over `v1/<spec>/<key>`. New URLs are signed with the first key; any listed key
 * verifies, so rotation is: add the new key first, keep the old one until its URLs are no longer
 * needed, then drop it.
 */
export class UrlSigner {
  readonly #keys: ReadonlyMap<string, string>;
  readonly #current: SigningKey;

  constructor(keys: readonly SigningKey[]) {
    if (keys.length === 0) throw new TypeError('at least one signing key is required');
    const map = new Map<string, string>();
    for (const k of keys) {
      if (!KEY_ID.test(k.id)) throw new TypeError(`signing key id ${JSON.stringify(k.id)} must be 1–16 of A-Z a-z 0-9 _ -`);
      if (Buffer.byteLength(k.secret) < 32) throw new TypeError(`signing key ${k.id} must be at least 32 bytes`);
      if (map.has(k.id)) throw new TypeError(`duplicate signing key id ${k.id}`);
      map.set(k.id, k.secret);
    }
    this.#keys = map;
    this.#current = keys[0] as SigningKey;
  }

  /** The signature segment for an encoded spec and a blob key. */
  sign(encodedSpec: string, key: string): string {
    return `${this.#current.id}.${mac(this.#current.secret, encodedSpec, key)}`;
  }

  /** The path of an on-the-fly URL (append it to the broker's base URL). */
  path(spec: TransformSpec, key: string): string {
    assertBlobKey(key);
    const enc = encodeSpec(spec);
    return `/v1/images/${this.sign(enc, key)}/${enc}/${key}`;
  }

  /** Throws ImageError(BAD_SIGNATURE) unless `signature` is valid for the spec segment and key. */
  verify(signature: string, encodedSpec: string, key: string): void {
    const dot = signature.indexOf('.');
    const secret = dot > 0 ? this.#keys.get(signature.slice(0, dot)) : undefined;
    if (secret === undefined) throw new ImageError(ImageErrorCodes.BAD_SIGNATURE, 'unknown signing key');
    const given = signature.slice(dot + 1);
    // Every MAC is 32 bytes, 43 base64url characters: the shape is public, so checking it first
    // leaks nothing, and the bytes are then compared in constant time.
    if (!MAC_SHAPE.test(given)) throw new ImageError(ImageErrorCodes.BAD_SIGNATURE, 'bad image URL signature');
    if (!timingSafeEqual(macBytes(secret, encodedSpec, key), Buffer.from(given, 'base64url'))) {
      throw new ImageError(ImageErrorCodes.BAD_SIGNATURE, 'bad image URL signature');
    }
  }
}

/** A base64url HMAC-SHA256 without padding (the last character carries 4 bits, so its low 2 are 0). */
const MAC_SHAPE = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

function macBytes(secret: string, encodedSpec: string, key: string): Buffer {
  return createHmac('sha256', secret).update(`v1/${encodedSpec}/${key}`).digest();
}

function mac(secret: string, encodedSpec: string, key: string): string {
  return macBytes(secret, encodedSpec, key).toString('base64url');
}

/** Options of {@link OnTheFly}. */
export interface OnTheFlyOptions {
  store: BlobStore;
  renderer: SharpBackend;
  signer: UrlSigner;
  /** The first level: this node's byte-bounded LRU. */
  cache: DiskLruCache;
  /** @defaultValue 'public, max-age=86400' */
  cacheControl?: string;
  /**
   * Also keep renditions in the blob store (under `renditions/`), the second level every node on the
   * same store reads: a URL rendered on one node is served by the others without rendering again.
   * Off for a store on local disk by default, where the LRU directory already is that cache and the
   * store has nothing to bound its copies; turn it on for a disk store on a file system several nodes
   * share. Bound the copies with the store's own expiry (an S3 lifecycle rule on `renditions/`).
   * @defaultValue true when the store has no local `file()` (an object store such as S3), else false
   */
  sharedCache?: boolean;
}

/** Where an answer came from: this node's cache, the shared cache in the store, or a render. */
export type CacheOutcome = 'hit' | 'hit-shared' | 'miss';

/** The answer to an on-the-fly request. */
export interface OnTheFlyResponse extends CachedImage {
  /** True when the format was negotiated from Accept: the response must carry `Vary: Accept`. */
  varyAccept: boolean;
  cacheControl: string;
  /** True when served from a cache (this node's or the shared one), false when rendered for it. */
  hit: boolean;
  /** The `X-Tributary-Cache` header: `hit` (this node), `hit-shared` (the store), `miss` (rendered). */
  cache: CacheOutcome;
}

/** The blob key prefix of shared renditions. */
export const RENDITIONS_PREFIX = 'renditions';

/**
 * On-the-fly transforms: verifies the signature, negotiates the format, and answers from this node's
 * LRU, else from the shared cache in the blob store, else renders with sharp. Entries are keyed by the
 * rendition's identity — canonical spec, negotiated format, source key and source ETag — so every
 * node derives the same key and a replaced source is rendered anew. Identical concurrent requests on
 * a node are answered by one lookup and at most one render (single flight); two nodes missing the
 * same key at once both render and both write identical bytes (see docs/IMAGES.md).
 */
export class OnTheFly {
  readonly #o: OnTheFlyOptions;
  readonly #shared: boolean;
  readonly #inflight = new Map<string, Promise<{ image: CachedImage; cache: CacheOutcome }>>();
  /**
   * Decoded specs by their URL segment, with their canonical JSON. A site uses a handful of presets,
   * so nearly every request repeats one, and decoding (base64url, JSON, the schema, the canonical
   * form) was a tenth of this path's own CPU. Only segments whose signature verified get here, so a
   * stranger cannot fill it.
   */
  readonly #specs = new Map<string, { spec: TransformSpec; canonical: string }>();
  /** Whether a source version (`key\netag`) is animated; asked only for `auto` on GIF and WebP. */
  readonly #animated = new Map<string, boolean>();
  /** Shared-cache writes in flight (see {@link settled}). */
  readonly #writes = new Set<Promise<void>>();
  /**
   * Counters for metrics and tests: renders; answers from this node's LRU (`hits`) and from the store
   * (`sharedHits`); requests that waited for an identical one in flight (`joins`); LRU files not
   * written; renditions written to the store; and store reads or writes that failed (`sharedErrors`:
   * each cost a render, or a copy the other nodes will not find).
   */
  readonly stats = { transforms: 0, hits: 0, joins: 0, cacheWriteErrors: 0, sharedHits: 0, sharedWrites: 0, sharedErrors: 0 };

  constructor(options: OnTheFlyOptions) {
    if (options.sharedCache !== undefined && typeof options.sharedCache !== 'boolean')
      throw new TypeError(`sharedCache must be a boolean, got ${String(options.sharedCache)}`);
    this.#o = options;
    this.#shared = options.sharedCache ?? options.store.file === undefined;
  }

  /** True when renditions are also kept in, and served from, the blob store. */
  get sharedCache(): boolean {
    return this.#shared;
  }

  /** Resolves when every shared-cache write started so far has landed (or failed, counted). */
  async settled(): Promise<void> {
    while (this.#writes.size > 0) await Promise.all(this.#writes);
  }

  /** Serves `/v1/images/<signature>/<encodedSpec>/<key>`. Throws ImageError. */
  async get(signature: string, encodedSpec: string, key: string, accept?: string): Promise<OnTheFlyResponse> {
    assertBlobKey(key);
    this.#o.signer.verify(signature, encodedSpec, key);
    const { spec, canonical } = this.#spec(encodedSpec);
    // A store on disk answers the info and the file in one read, so a miss needs no second one.
    const file = this.#o.store.file === undefined ? undefined : await this.#o.store.file(key);
    const head = file?.info ?? (await this.#o.store.head(key));
    if (head === undefined) throw new ImageError(ImageErrorCodes.NOT_FOUND, `no object ${key}`);
    // Before any read: from S3 the source would be fetched whole into memory only to be refused.
    assertInputBytes(head.bytes, this.#o.renderer.limits);
    let input: ImageInput | undefined = file === undefined ? undefined : { path: file.path, bytes: file.info.bytes };
    const inputFormat = formatOfMime(head.contentType);
    let animated = false;
    if (spec.output.format === 'auto' && (inputFormat === 'gif' || inputFormat === 'webp')) {
      const probed = await this.#isAnimated(key, head, input);
      animated = probed.animated;
      input ??= probed.bytes;
    }
    const format = resolveFormat(spec.output.format, inputFormat, accept, { animated });
    const varyAccept = spec.output.format === 'auto';
    const id = createHash('sha256').update(`v1\n${canonical}\n${format}\n${key}\n${head.etag}`).digest('hex');
    const cacheControl = this.#o.cacheControl ?? 'public, max-age=86400';
    const cached = await this.#o.cache.get(id);
    if (cached !== undefined) {
      this.stats.hits++;
      return { ...cached, varyAccept, cacheControl, hit: true, cache: 'hit' };
    }
    let flight = this.#inflight.get(id);
    if (flight !== undefined) this.stats.joins++;
    else {
      flight = this.#fill(id, key, input, spec, format).finally(() => this.#inflight.delete(id));
      this.#inflight.set(id, flight);
    }
    const { image, cache } = await flight;
    return { ...image, varyAccept, cacheControl, hit: cache !== 'miss', cache };
  }

  #spec(encoded: string): { spec: TransformSpec; canonical: string } {
    let entry = this.#specs.get(encoded);
    if (entry === undefined) {
      const spec = deepFreeze(decodeSpec(encoded));
      // The canonical form, not the URL's text: two spellings of one spec share their renditions.
      entry = { spec, canonical: canonicalJson(spec) };
      // Past the bound, the oldest decoded goes (insertion order): presets are decoded again at once.
      if (this.#specs.size >= SPEC_MEMO_SIZE) this.#specs.delete(this.#specs.keys().next().value as string);
      this.#specs.set(encoded, entry);
    }
    return entry;
  }

  /** Whether a GIF/WebP source is animated, remembered per version; with its bytes when they had to be read. */
  async #isAnimated(key: string, head: BlobInfo, file: ImageInput | undefined): Promise<{ animated: boolean; bytes?: Buffer }> {
    const memo = `${key}\n${head.etag}`;
    const known = this.#animated.get(memo);
    if (known !== undefined) return { animated: known };
    let bytes: Buffer | undefined;
    let animated: boolean;
    if (file !== undefined && !Buffer.isBuffer(file)) {
      // A WebP says so in its first 21 bytes; a GIF must be walked to its second frame.
      animated = isAnimated(formatOfMime(head.contentType) === 'webp' ? readHeadOf(file.path, 32) : await readWhole(file.path));
    } else {
      bytes = (await readInput(this.#o.store, key)).input as Buffer;
      animated = isAnimated(bytes);
    }
    if (this.#animated.size >= ANIMATION_MEMO_SIZE) this.#animated.delete(this.#animated.keys().next().value as string);
    this.#animated.set(memo, animated);
    return bytes === undefined ? { animated } : { animated, bytes };
  }

  /** A local miss: the shared cache, else a render (written to both levels behind the answer). */
  async #fill(
    id: string,
    key: string,
    input: ImageInput | undefined,
    spec: TransformSpec,
    format: ImageFormat,
  ): Promise<{ image: CachedImage; cache: CacheOutcome }> {
    const sharedKey = `${RENDITIONS_PREFIX}/${id}.${extOf(format)}`;
    const etag = `"${id.slice(0, 32)}"`;
    if (this.#shared) {
      const image = await this.#fromShared(sharedKey, format, etag);
      if (image !== undefined) {
        this.stats.sharedHits++;
        this.#remember(id, image);
        return { image, cache: 'hit-shared' };
      }
    }
    const source = input ?? (await readInput(this.#o.store, key)).input;
    this.stats.transforms++;
    const out = await this.#o.renderer.render(source, { ...spec, output: { ...spec.output, format } });
    const image: CachedImage = {
      data: out.data,
      contentType: mimeOf(out.format),
      format: out.format,
      width: out.width,
      height: out.height,
      etag,
    };
    // Answer now; the LRU serves the entry from memory until its file is written.
    this.#remember(id, image);
    if (this.#shared) this.#writeShared(sharedKey, image);
    return { image, cache: 'miss' };
  }

  /**
   * A rendition from the shared cache, or undefined. A store that fails, or an object that is not
   * the image it should be, costs a render and a counted error, never the answer. "The image it
   * should be" is checked by content: the writer put the SHA-256 of the bytes into the object's
   * content type ({@link sharedContentType}), and bytes that do not hash to it (cut short, corrupted,
   * replaced by another image of the same format) are not served under the rendition's ETag — a
   * header check alone passed a JPEG cut in half.
   */
  async #fromShared(sharedKey: string, format: ImageFormat, etag: string): Promise<CachedImage | undefined> {
    try {
      const obj = await this.#o.store.get(sharedKey);
      if (obj === undefined) return undefined;
      const declared = /;\s*sha256=([0-9a-f]{64})\s*$/.exec(obj.info.contentType)?.[1];
      if (declared === undefined || createHash('sha256').update(obj.data).digest('hex') !== declared) {
        this.stats.sharedErrors++;
        return undefined;
      }
      // The size is read back from the header (libvips, no decode): the store keeps no dimensions.
      const meta = await sharp(obj.data).metadata();
      if (meta.format !== SHARP_FORMAT[format] || meta.width === undefined || meta.height === undefined) {
        this.stats.sharedErrors++;
        return undefined;
      }
      return { data: obj.data, contentType: mimeOf(format), format, width: meta.width, height: meta.pageHeight ?? meta.height, etag };
    } catch {
      this.stats.sharedErrors++;
      return undefined;
    }
  }

  #remember(id: string, image: CachedImage): void {
    this.#o.cache.set(id, image).catch(() => {
      this.stats.cacheWriteErrors++;
    });
  }

  /**
   * Writes a rendition to the shared cache behind the answer. Two nodes that rendered the same key
   * both write it; identical bytes under one key, and a put replaces an object whole, so a reader
   * sees one or the other complete, never a mix.
   */
  #writeShared(sharedKey: string, image: CachedImage): void {
    const write: Promise<void> = this.#o.store
      .put(sharedKey, image.data, sharedContentType(image))
      .then(
        () => {
          this.stats.sharedWrites++;
        },
        () => {
          this.stats.sharedErrors++;
        },
      )
      .finally(() => this.#writes.delete(write));
    this.#writes.add(write);
  }
}

/**
 * The content type a shared rendition is stored with: its type and the SHA-256 of its bytes as a
 * parameter (`image/webp; sha256=<64 hex>`), so a reader can tell the bytes are the ones written.
 * A parameter rather than object metadata: every blob store keeps a content type, and a type with an
 * unknown parameter is still the image's type to anyone reading the object by key.
 */
function sharedContentType(image: CachedImage): string {
  return `${image.contentType}; sha256=${createHash('sha256').update(image.data).digest('hex')}`;
}

/** sharp's `metadata().format` of each of our formats (libvips calls AVIF `heif`). */
const SHARP_FORMAT: Readonly<Record<ImageFormat, string>> = { jpeg: 'jpeg', png: 'png', webp: 'webp', avif: 'heif', gif: 'gif' };

/** Source versions whose animation {@link OnTheFly} remembers. */
const ANIMATION_MEMO_SIZE = 4096;

/** Decoded specs kept by {@link OnTheFly}. */
const SPEC_MEMO_SIZE = 256;

/** Shared specs must not change under a later request. */
function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

const MIME_FORMATS: Readonly<Record<string, ImageFormat>> = {
  'image/jpeg': 'jpeg',
  'image/png': 'png',
  'image/webp': 'webp',
  'image/avif': 'avif',
  'image/gif': 'gif',
};

/** Our format for a stored content type (TIFF and unknown types count as PNG for `original`). */
export function formatOfMime(contentType: string): ImageFormat {
  const t = contentType.split(';')[0]?.trim().toLowerCase();
  return (t === undefined || !Object.hasOwn(MIME_FORMATS, t) ? undefined : MIME_FORMATS[t]) ?? 'png';
}
