import { join } from 'node:path';
import type { StreamEngine } from '@tributary/engine';
import { DiskBlobStore, resolveSyncWriteMaxBytes, type BlobStore, type DiskBlobStoreOptions } from './blobs.js';
import { CloudinaryBackend, parseCloudinaryUrl, type CloudinaryConfig } from './cloudinary-backend.js';
import type { ImageLimits } from './limits.js';
import { ImageService, imagesModule, type ImagesHostModule } from './module.js';
import { deriveSigningKey, DiskLruCache, OnTheFly, UrlSigner, type OnTheFlyOptions, type SigningKey } from './otf.js';
import type { HttpRoute, Principal } from '@tributary/server';
import { imageRoutes, type PublishUploadEvent } from './routes.js';
import { SharpBackend, type SharpBackendOptions } from './sharp-backend.js';
import { S3BlobStore } from './s3-blobs.js';
import type { S3BlobStoreOptions } from './s3-options.js';
import { UploadTokens, type UploadTokenOptions } from './uploads.js';

/** Options of {@link createImages}: everything the images capability of a node needs. */
export interface ImagesOptions {
  /**
   * The node's engine: upload tokens live in its kv store; object.created events are appended to it
   * unless `publish` is given.
   */
  engine: Pick<StreamEngine, 'append' | 'kv'>;
  /**
   * How upload events are published; the node passes the broker's Publisher (platform path).
   * @defaultValue appended to `engine` directly
   */
  publish?: PublishUploadEvent;
  /**
   * Directory of the disk blob store (`data/`, `meta/`, `tmp/`) and the on-the-fly cache (`cache/`).
   * @defaultValue './.tributary/blobs'
   */
  dataDir?: string;
  /** Another store instead of the disk one (takes precedence over `s3`). */
  store?: BlobStore;
  /**
   * Keep blobs on S3 (or an S3-compatible store) instead of the disk: an {@link S3BlobStore} with
   * these options. `dataDir` still holds the local on-the-fly cache.
   */
  s3?: S3BlobStoreOptions;
  /** Transform with Cloudinary (a config or a CLOUDINARY_URL) instead of sharp in-process. */
  cloudinary?: CloudinaryConfig | string;
  /** Limits of the sharp backend (also used for on-the-fly URLs with either backend). */
  limits?: Partial<ImageLimits>;
  /** Named specs for blocks. */
  presets?: Record<string, unknown>;
  /** Upload token settings. */
  uploads?: UploadTokenOptions;
  /**
   * Keys signing on-the-fly URLs, newest first (see {@link parseSigningKeys} for their text form);
   * or one secret (used as key id `k1`). Without either, a key is derived from `secret`
   * ({@link deriveSigningKey}) and on-the-fly URLs still work.
   */
  signingKeys?: SigningKey[] | string;
  /** A secret to derive a signing key from when `signingKeys` is not given (e.g. the broker secret). */
  secret?: string;
  /** Bytes of the on-the-fly cache. @defaultValue 268_435_456 (256 MiB) */
  cacheBytes?: number;
  /**
   * Keep on-the-fly renditions in the blob store too, for every node on it (see
   * {@link OnTheFlyOptions.sharedCache}). @defaultValue true for a store without local files (S3), false for the disk store
   */
  sharedCache?: boolean;
  /**
   * Files up to this size (derived images, cached renditions) are written to `dataDir` with
   * synchronous calls; see {@link DiskBlobStoreOptions.syncWriteMaxBytes}. Set 0 when `dataDir` is
   * on a network file system. @defaultValue 65_536
   */
  syncWriteMaxBytes?: number;
  /**
   * Stored sources up to this size are read into a reused buffer with one synchronous read before
   * sharp decodes them; see {@link SharpBackendOptions.syncReadMaxBytes}. Set 0 when `dataDir` is on a
   * network file system. @defaultValue 8_388_608 (8 MiB)
   */
  syncReadMaxBytes?: number;
  /** Base of URLs in results and events. @defaultValue '' (root-relative) */
  publicUrl?: string;
  /** Who may request upload tokens: pass the broker's `can`. @defaultValue admins only */
  can?: (principal: Principal, action: 'publish', channel: string) => boolean;
  /** @defaultValue '$objects.created' */
  objectsChannel?: string;
}

/** The wired images capability: a host module for blocks, HTTP routes for the broker, and the parts. */
export interface Images {
  module: ImagesHostModule;
  routes: HttpRoute[];
  service: ImageService;
  store: BlobStore;
  tokens: UploadTokens;
  signer: UrlSigner;
  otf: OnTheFly;
  renderer: SharpBackend;
}

export const DEFAULT_DATA_DIR = './.tributary/blobs';
export const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;

/** Builds the images capability from options (see {@link ImagesOptions}). */
export function createImages(o: ImagesOptions): Images {
  const dataDir = o.dataDir ?? DEFAULT_DATA_DIR;
  const syncWriteMaxBytes = resolveSyncWriteMaxBytes(o.syncWriteMaxBytes);
  const store = o.store ?? (o.s3 === undefined ? new DiskBlobStore(dataDir, { syncWriteMaxBytes }) : new S3BlobStore(o.s3));
  const renderer = new SharpBackend(o.limits, o.syncReadMaxBytes === undefined ? {} : { syncReadMaxBytes: o.syncReadMaxBytes });
  const backend =
    o.cloudinary === undefined
      ? renderer
      : new CloudinaryBackend(typeof o.cloudinary === 'string' ? parseCloudinaryUrl(o.cloudinary) : o.cloudinary);
  const serviceOptions: ConstructorParameters<typeof ImageService>[0] = { store, backend, presets: o.presets ?? {}, inspector: renderer };
  if (o.publicUrl !== undefined) serviceOptions.publicUrl = o.publicUrl;
  const service = new ImageService(serviceOptions);
  const tokens = new UploadTokens(o.engine.kv, o.uploads);
  let keys: SigningKey[];
  if (Array.isArray(o.signingKeys)) keys = o.signingKeys;
  else if (typeof o.signingKeys === 'string') keys = [{ id: 'k1', secret: o.signingKeys }];
  else if (o.secret !== undefined) keys = [deriveSigningKey(o.secret)];
  else throw new TypeError('images: pass signingKeys or secret to sign on-the-fly URLs');
  const signer = new UrlSigner(keys);
  const cache = new DiskLruCache({ dir: join(dataDir, 'cache'), maxBytes: o.cacheBytes ?? DEFAULT_CACHE_BYTES, syncWriteMaxBytes });
  const otf = new OnTheFly({ store, renderer, signer, cache, ...(o.sharedCache === undefined ? {} : { sharedCache: o.sharedCache }) });
  const routeOptions: Parameters<typeof imageRoutes>[0] = { store, tokens, engine: o.engine, otf };
  if (o.publish !== undefined) routeOptions.publish = o.publish;
  if (o.can !== undefined) routeOptions.can = o.can;
  if (o.publicUrl !== undefined) routeOptions.publicUrl = o.publicUrl;
  if (o.objectsChannel !== undefined) routeOptions.objectsChannel = o.objectsChannel;
  return { module: imagesModule(service), routes: imageRoutes(routeOptions), service, store, tokens, signer, otf, renderer };
}
