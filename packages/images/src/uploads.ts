import type { KeyValueStore } from '@tributary/engine';
import { customAlphabet, nanoid } from 'nanoid';
import { assertBlobKey } from './blobs.js';
import { ImageError, ImageErrorCodes } from './errors.js';
import { SNIFFED_MIME, sniffImage } from './sniff.js';

/** Options of {@link UploadTokens}. */
export interface UploadTokenOptions {
  /**
   * Largest upload a token allows, bytes (also the cap a caller may ask for).
   * @defaultValue 10_485_760 (10 MiB)
   */
  maxBytes?: number;
  /**
   * How long a token is valid, seconds (also the cap a caller may ask for).
   * @defaultValue 600
   */
  ttlSeconds?: number;
  /**
   * Content types an upload may have — decided from the bytes (magic numbers), never from the header.
   * @defaultValue ['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/avif']
   */
  contentTypes?: string[];
  /**
   * Key prefix of uploaded objects: keys are `<prefix>/<random id>`.
   * @defaultValue 'uploads'
   */
  prefix?: string;
}

export const DEFAULT_UPLOAD_MAX_BYTES = 10 * 1024 * 1024;
export const DEFAULT_UPLOAD_TTL_SECONDS = 600;
export const DEFAULT_UPLOAD_CONTENT_TYPES: readonly string[] = ['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/avif'];

/** What a token allows: one upload of at most `maxBytes` of one of `contentTypes` to `key`, before `expiresAt`. */
export interface UploadGrant {
  key: string;
  maxBytes: number;
  contentTypes: string[];
  /** ms since the Unix epoch. */
  expiresAt: number;
  /** Who asked for the token (the principal's `sub`), echoed in the object.created event. */
  sub?: string;
  /**
   * Set for a direct upload (the bytes go to the object store, not through the broker): the exact
   * size and type the client declared, bound into the presigned URL. `maxBytes` is then `bytes`
   * and `contentTypes` is `[contentType]`.
   */
  direct?: { bytes: number; contentType: string };
}

/** What a caller may ask of {@link UploadTokens.issue}. */
export interface UploadRequest {
  sub?: string;
  maxBytes?: number;
  ttlSeconds?: number;
  contentTypes?: string[];
  /** Ask for a direct upload of exactly `bytes` bytes of `contentType` (see {@link UploadGrant.direct}). */
  direct?: { bytes: number; contentType: string };
}

/** How many first bytes of an upload decide its type (enough for every format {@link sniffImage} knows). */
export const SNIFF_BYTES = 64;

/** A freshly issued token. */
export interface IssuedUpload extends UploadGrant {
  token: string;
}

const NS = 'images:uploads';
const objectId = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', 20);

/**
 * One-time upload tokens kept in the engine's kv store, so any broker node can redeem a token
 * another node issued. A token is 32 random URL-safe characters (≈190 bits). Redeeming is single-use
 * across nodes: `kv.claim` (SET NX on Redis) marks it used before the upload is read; a token whose
 * upload then fails (too large, wrong type) is spent all the same — ask for another.
 */
export class UploadTokens {
  readonly maxBytes: number;
  readonly ttlSeconds: number;
  readonly contentTypes: readonly string[];
  readonly prefix: string;
  readonly #kv: KeyValueStore;

  constructor(kv: KeyValueStore, options: UploadTokenOptions = {}) {
    this.#kv = kv;
    this.maxBytes = options.maxBytes ?? DEFAULT_UPLOAD_MAX_BYTES;
    this.ttlSeconds = options.ttlSeconds ?? DEFAULT_UPLOAD_TTL_SECONDS;
    this.contentTypes = options.contentTypes ?? DEFAULT_UPLOAD_CONTENT_TYPES;
    this.prefix = options.prefix ?? 'uploads';
    if (!Number.isSafeInteger(this.maxBytes) || this.maxBytes <= 0)
      throw new TypeError(`maxBytes must be a positive integer, got ${this.maxBytes}`);
    if (!(this.ttlSeconds > 0)) throw new TypeError(`ttlSeconds must be positive, got ${this.ttlSeconds}`);
    const known = Object.values(SNIFFED_MIME);
    for (const t of this.contentTypes)
      if (!known.includes(t)) throw new TypeError(`contentTypes: ${t} cannot be recognised from its bytes (known: ${known.join(', ')})`);
    assertBlobKey(`${this.prefix}/x`);
  }

  /**
   * Issues a token; a request for more bytes, more time or other types than configured is
   * capped/filtered. A direct upload's size and type are not capped but checked: over the cap is
   * TOO_LARGE, a type not allowed UNSUPPORTED_MEDIA_TYPE.
   */
  async issue(request: UploadRequest = {}): Promise<IssuedUpload> {
    const d = request.direct;
    if (d !== undefined) {
      if (!Number.isSafeInteger(d.bytes) || d.bytes <= 0)
        throw new ImageError(ImageErrorCodes.INVALID_SPEC, 'direct.bytes must be a positive integer');
      if (d.bytes > Math.min(request.maxBytes ?? this.maxBytes, this.maxBytes))
        throw new ImageError(ImageErrorCodes.TOO_LARGE, `direct.bytes is ${d.bytes}; uploads may have at most ${this.maxBytes}`);
      if (typeof d.contentType !== 'string' || !this.contentTypes.includes(d.contentType))
        throw new ImageError(ImageErrorCodes.UNSUPPORTED_MEDIA_TYPE, `direct.contentType must be one of ${this.contentTypes.join(', ')}`);
    }
    const maxBytes = d?.bytes ?? Math.min(request.maxBytes ?? this.maxBytes, this.maxBytes);
    const ttl = Math.min(request.ttlSeconds ?? this.ttlSeconds, this.ttlSeconds);
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0)
      throw new ImageError(ImageErrorCodes.INVALID_SPEC, 'maxBytes must be a positive integer');
    if (!(ttl > 0)) throw new ImageError(ImageErrorCodes.INVALID_SPEC, 'ttlSeconds must be positive');
    // Rounded up, never to 0: Redis refuses a `PX 0` (a request for 0.0001 s was an INTERNAL error).
    const ttlMs = Math.ceil(ttl * 1000);
    const contentTypes =
      d !== undefined
        ? [d.contentType]
        : request.contentTypes === undefined
          ? [...this.contentTypes]
          : request.contentTypes.filter((t) => this.contentTypes.includes(t));
    if (contentTypes.length === 0)
      throw new ImageError(
        ImageErrorCodes.UNSUPPORTED_MEDIA_TYPE,
        `none of the requested content types is allowed (allowed: ${this.contentTypes.join(', ')})`,
      );
    const token = nanoid(32);
    const grant: UploadGrant = {
      key: `${this.prefix}/${objectId()}`,
      maxBytes,
      contentTypes,
      expiresAt: Date.now() + ttlMs,
    };
    if (request.sub !== undefined) grant.sub = request.sub;
    if (d !== undefined) grant.direct = { bytes: d.bytes, contentType: d.contentType };
    await this.#kv.set(NS, `t:${token}`, JSON.stringify(grant), ttlMs);
    return { token, ...grant };
  }

  /**
   * The grant of a token that is still valid, without spending it (TOKEN_INVALID as for
   * {@link redeem}): a direct upload's completion looks before it spends, so a client that calls
   * it before its PUT finished may call it again.
   */
  async peek(token: string): Promise<UploadGrant> {
    if (!/^[A-Za-z0-9_-]{32}$/.test(token)) throw new ImageError(ImageErrorCodes.TOKEN_INVALID, 'malformed upload token');
    const raw = await this.#kv.get(NS, `t:${token}`);
    if (raw === undefined) throw new ImageError(ImageErrorCodes.TOKEN_INVALID, 'unknown, used or expired upload token');
    const grant = JSON.parse(raw) as UploadGrant;
    if (grant.expiresAt - Date.now() <= 0) throw new ImageError(ImageErrorCodes.TOKEN_INVALID, 'upload token expired');
    return grant;
  }

  /**
   * Spends a token: returns its grant once; afterwards (or when unknown or expired) throws
   * ImageError(TOKEN_INVALID).
   */
  async redeem(token: string): Promise<UploadGrant> {
    const grant = await this.peek(token);
    const left = grant.expiresAt - Date.now();
    // The claim is what makes a token single-use when two requests race with it (on any node).
    if (!(await this.#kv.claim(NS, `used:${token}`, '1', left + 60_000))) {
      throw new ImageError(ImageErrorCodes.TOKEN_INVALID, 'upload token already used');
    }
    await this.#kv.del(NS, `t:${token}`);
    return grant;
  }
}

/**
 * Checks an upload body against its grant: size, and the content type sniffed from the bytes (the
 * declared type, when given, must agree). Returns the content type to store.
 */
export function checkUpload(grant: UploadGrant, data: Buffer, declared?: string): string {
  if (data.length > grant.maxBytes) {
    throw new ImageError(ImageErrorCodes.TOO_LARGE, `upload is ${data.length} bytes; the token allows ${grant.maxBytes}`);
  }
  return checkUploadHead(grant, data.subarray(0, SNIFF_BYTES), declared);
}

/**
 * {@link checkUpload} from the first {@link SNIFF_BYTES} bytes alone, for a body that is still
 * arriving (its size is held to the cap on the stream) or is already in the object store.
 */
export function checkUploadHead(grant: UploadGrant, head: Buffer, declared?: string): string {
  if (head.length === 0) throw new ImageError(ImageErrorCodes.UNSUPPORTED_MEDIA_TYPE, 'upload is empty');
  const sniffed = sniffImage(head.subarray(0, SNIFF_BYTES));
  const type = sniffed === undefined ? undefined : SNIFFED_MIME[sniffed];
  if (type === undefined || !grant.contentTypes.includes(type)) {
    throw new ImageError(ImageErrorCodes.UNSUPPORTED_MEDIA_TYPE, `upload is not one of ${grant.contentTypes.join(', ')}`);
  }
  const d = declared?.split(';')[0]?.trim().toLowerCase();
  if (d !== undefined && d !== '' && d !== 'application/octet-stream' && d !== type) {
    throw new ImageError(ImageErrorCodes.UNSUPPORTED_MEDIA_TYPE, `declared Content-Type ${d} does not match the content (${type})`);
  }
  return type;
}
