import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { assertBlobKey, resolveSyncWriteMaxBytes, type BlobStore } from './blobs.js';
import { ImageError, ImageErrorCodes } from './errors.js';
import { readInput, type ImageFile } from './input.js';
import type { SharpBackend } from './sharp-backend.js';
import { decodeSpec, encodeSpec, mimeOf, resolveFormat, type ImageFormat, type TransformSpec } from './spec.js';

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

/** One cached rendition. */
export interface CachedImage {
  data: Buffer;
  contentType: string;
  format: ImageFormat;
  width: number;
  height: number;
  etag: string;
}

type CacheEntry = Omit<CachedImage, 'data'> & { bytes: number };

/**
 * A disk cache bounded in bytes with least-recently-used eviction. The index lives in memory (a Map
 * in recency order); the directory is emptied at start, so the cache is per process and a crash can
 * never leave it over its bound. Writes are behind: an entry is served from memory from the moment
 * it is set until its file is written, so a caller need not wait for the disk before answering.
 */
export class DiskLruCache {
  readonly dir: string;
  readonly maxBytes: number;
  /** Entries up to this size are written synchronously (see DiskBlobStoreOptions.syncWriteMaxBytes). */
  readonly syncWriteMaxBytes: number;
  readonly #index = new Map<string, CacheEntry>();
  /** Entries whose file is being written, and the write. */
  readonly #writing = new Map<string, { value: CachedImage; done: Promise<void> }>();
  #bytes = 0;
  #ready: Promise<void> | undefined;

  constructor(options: { dir: string; maxBytes: number; syncWriteMaxBytes?: number }) {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes <= 0)
      throw new TypeError(`cache maxBytes must be a positive integer, got ${options.maxBytes}`);
    this.dir = resolve(options.dir);
    this.maxBytes = options.maxBytes;
    this.syncWriteMaxBytes = resolveSyncWriteMaxBytes(options.syncWriteMaxBytes);
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Keys, least recently used first. */
  keys(): string[] {
    return [...this.#index.keys()];
  }

  async get(key: string): Promise<CachedImage | undefined> {
    const e = this.#index.get(key);
    if (e === undefined) return undefined;
    this.#index.delete(key);
    this.#index.set(key, e);
    const writing = this.#writing.get(key);
    if (writing !== undefined) return writing.value;
    let data: Buffer;
    try {
      data = await readFile(this.#file(key));
    } catch {
      this.#drop(key);
      return undefined;
    }
    return { ...e, data };
  }

  /**
   * Stores an entry, visible at once, and evicts least recently used ones until the total fits;
   * resolves when its file is written. Larger than the bound: not stored.
   */
  set(key: string, value: CachedImage): Promise<void> {
    if (value.data.length > this.maxBytes) return Promise.resolve();
    this.#drop(key);
    const { data, ...meta } = value;
    this.#index.set(key, { ...meta, bytes: data.length });
    this.#bytes += data.length;
    const evicted: string[] = [];
    while (this.#bytes > this.maxBytes) {
      const oldest = this.#index.keys().next().value as string;
      this.#drop(oldest);
      evicted.push(oldest);
    }
    const previous = this.#writing.get(key)?.done ?? Promise.resolve();
    const done = (async () => {
      await this.#init();
      await previous; // two writes of one key land in order
      if (data.length <= this.syncWriteMaxBytes) writeFileSync(this.#file(key), data);
      else await writeFile(this.#file(key), data);
      // An evicted file is removed once any write of it in flight has landed, so none is orphaned.
      await Promise.all(
        evicted.map(async (k) => {
          await this.#writing.get(k)?.done.catch(() => {});
          if (!this.#index.has(k)) await rm(this.#file(k), { force: true });
        }),
      );
    })().finally(() => {
      if (this.#writing.get(key)?.done === done) this.#writing.delete(key);
    });
    this.#writing.set(key, { value, done });
    return done;
  }

  #drop(key: string): void {
    const e = this.#index.get(key);
    if (e === undefined) return;
    this.#index.delete(key);
    this.#bytes -= e.bytes;
  }

  #file(key: string): string {
    // Keys are hex digests (see OnTheFly), so they are safe file names.
    return join(this.dir, `${key}.bin`);
  }

  #init(): Promise<void> {
    this.#ready ??= (async () => {
      await rm(this.dir, { recursive: true, force: true });
      await mkdir(this.dir, { recursive: true });
    })();
    return this.#ready;
  }
}

/** Options of {@link OnTheFly}. */
export interface OnTheFlyOptions {
  store: BlobStore;
  renderer: SharpBackend;
  signer: UrlSigner;
  cache: DiskLruCache;
  /** @defaultValue 'public, max-age=86400' */
  cacheControl?: string;
}

/** The answer to an on-the-fly request. */
export interface OnTheFlyResponse extends CachedImage {
  /** True when the format was negotiated from Accept: the response must carry `Vary: Accept`. */
  varyAccept: boolean;
  cacheControl: string;
  /** True when served from the cache. */
  hit: boolean;
}

/**
 * On-the-fly transforms: verifies the signature, renders with sharp, caches by (spec, negotiated
 * format, key, source ETag), and renders identical concurrent requests once (single flight).
 */
export class OnTheFly {
  readonly #o: OnTheFlyOptions;
  readonly #inflight = new Map<string, Promise<CachedImage>>();
  /**
   * Decoded specs by their URL segment. A site uses a handful of presets, so nearly every request
   * repeats one, and decoding (base64url, JSON, the schema, the canonical form) was a tenth of this
   * path's own CPU. Only segments whose signature verified get here, so a stranger cannot fill it.
   */
  readonly #specs = new Map<string, TransformSpec>();
  /** Counters for metrics and tests. */
  readonly stats = { transforms: 0, hits: 0, joins: 0, cacheWriteErrors: 0 };

  constructor(options: OnTheFlyOptions) {
    this.#o = options;
  }

  /** Serves `/v1/images/<signature>/<encodedSpec>/<key>`. Throws ImageError. */
  async get(signature: string, encodedSpec: string, key: string, accept?: string): Promise<OnTheFlyResponse> {
    assertBlobKey(key);
    this.#o.signer.verify(signature, encodedSpec, key);
    const spec = this.#spec(encodedSpec);
    // A store on disk answers the info and the file in one read, so a miss needs no second one.
    const file = this.#o.store.file === undefined ? undefined : await this.#o.store.file(key);
    const head = file?.info ?? (await this.#o.store.head(key));
    if (head === undefined) throw new ImageError(ImageErrorCodes.NOT_FOUND, `no object ${key}`);
    const inputFormat = formatOfMime(head.contentType);
    const format = resolveFormat(spec.output.format, inputFormat, accept);
    const varyAccept = spec.output.format === 'auto';
    const cacheKey = createHash('sha256').update(`${encodedSpec}\n${format}\n${key}\n${head.etag}`).digest('hex');
    const cacheControl = this.#o.cacheControl ?? 'public, max-age=86400';
    const cached = await this.#o.cache.get(cacheKey);
    if (cached !== undefined) {
      this.stats.hits++;
      return { ...cached, varyAccept, cacheControl, hit: true };
    }
    let flight = this.#inflight.get(cacheKey);
    if (flight !== undefined) this.stats.joins++;
    else {
      const input = file === undefined ? undefined : { path: file.path, bytes: file.info.bytes };
      flight = this.#render(key, input, spec, format, cacheKey).finally(() => this.#inflight.delete(cacheKey));
      this.#inflight.set(cacheKey, flight);
    }
    return { ...(await flight), varyAccept, cacheControl, hit: false };
  }

  #spec(encoded: string): TransformSpec {
    let spec = this.#specs.get(encoded);
    if (spec === undefined) {
      spec = deepFreeze(decodeSpec(encoded));
      // Past the bound, the oldest decoded goes (insertion order): presets are decoded again at once.
      if (this.#specs.size >= SPEC_MEMO_SIZE) this.#specs.delete(this.#specs.keys().next().value as string);
      this.#specs.set(encoded, spec);
    }
    return spec;
  }

  async #render(
    key: string,
    file: ImageFile | undefined,
    spec: TransformSpec,
    format: ImageFormat,
    cacheKey: string,
  ): Promise<CachedImage> {
    const input = file ?? (await readInput(this.#o.store, key)).input;
    this.stats.transforms++;
    const out = await this.#o.renderer.render(input, { ...spec, output: { ...spec.output, format } });
    const image: CachedImage = {
      data: out.data,
      contentType: mimeOf(out.format),
      format: out.format,
      width: out.width,
      height: out.height,
      etag: `"${cacheKey.slice(0, 32)}"`,
    };
    // Answer now; the cache serves the entry from memory until its file is written.
    this.#o.cache.set(cacheKey, image).catch(() => {
      this.stats.cacheWriteErrors++;
    });
    return image;
  }
}

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
