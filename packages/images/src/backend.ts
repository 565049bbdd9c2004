import type { BlobInfo, BlobStore } from './blobs.js';
import type { ImageInput } from './input.js';
import type { ImageProbe } from './probe.js';
import type { ImageFormat, TransformSpec } from './spec.js';

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

/** One version to make: the caller's name for it and its (validated) spec. */
export interface WantedVersion {
  name: string;
  spec: TransformSpec;
}

/** Checks a source against the image limits from its header, without decoding it (a SharpBackend does). */
export interface SourceInspector {
  probe(input: ImageInput, options?: { frames?: 'all' | 'first' }): Promise<ImageProbe>;
}

/** What {@link ImageBackend.makeVersions} is asked: versions of one stored object, and where they go. */
export interface VersionsRequest {
  store: BlobStore;
  /** The stored source's key (already validated). */
  key: string;
  wanted: readonly WantedVersion[];
  /** The blob key an output is stored under, from its spec key (`specKey(spec)`) and format,, by backends that store outputs. */
  derivedKey(specKey: string, format: ImageFormat): string;
  /** The URL of a blob key. */
  blobUrl(key: string): string;
  /** Checks a source before a backend sends it out of the process; undefined: no check. */
  inspector?: SourceInspector;
}

/** The versions made, with the source's stored info. */
export interface Versions {
  source: BlobInfo;
  /** One per wanted version, in order. */
  results: TransformResult[];
}

/**
 * What {@link ImageService} needs of a backend: make the wanted versions of a stored object. Each
 * backend decides how it reads the source and where the outputs live (sharp: rendered here and put
 * in the blob store; Cloudinary: uploaded once with every spec as an eager transformation), so the
 * service never asks which backend it has. A missing object is ImageError NOT_FOUND.
 */
export interface ImageBackend {
  /** Names the backend in results (`TransformResult.backend`) and logs; not for branching on. */
  readonly kind: TransformResult['backend'];
  makeVersions(request: VersionsRequest): Promise<Versions>;
}
