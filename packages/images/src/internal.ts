// The package's second entry, `@tributary/images/internal`: names its own tests and
// scripts/bench/images.ts use that are not part of the public API (index.ts). No compatibility
// promise: anything here may change or go without notice.
export { SPEC_VERSION, MAX_DIMENSION, MAX_STEPS, Gravities, ResizeModes, OutputFormats, mimeOf, extOf, resizeSpec } from './spec.js';
export type {
  ResizeStep,
  CropStep,
  RotateStep,
  FlipStep,
  BlurStep,
  GrayscaleStep,
  RoundStep,
  OutputOptions,
  OutputFormat,
  ImageFormat,
  Gravity,
  ResizeMode,
} from './spec.js';
export { cloudinaryFormat, fromCloudinaryFormat, blurStrength } from './cloudinary-map.js';
export type { CloudinaryMapOptions } from './cloudinary-map.js';
export { sniffImage, SNIFFED_MIME, gifTruncated } from './sniff.js';
export type { SniffedType } from './sniff.js';
export type { RenderOptions, SharpBackendOptions } from './sharp-backend.js';
export { resolveImageLimits } from './limits.js';
export type { ImageLimits } from './limits.js';
export { mapSharpError } from './sharp-errors.js';
export { projectResize } from './limit-checks.js';
export { jpegSize, pngSize } from './header-size.js';
export type { ImageProbe } from './probe.js';
export type { RenderedImage } from './pipeline.js';
export { SourceReader, DEFAULT_SYNC_READ_MAX_BYTES } from './source-reader.js';
export type { ImageFile, ImageInput } from './input.js';
export { mapCloudinaryError } from './cloudinary-backend.js';
export type { CloudinaryConfig, CloudinaryResult } from './cloudinary-backend.js';
export type { Versions, VersionsRequest, WantedVersion, SourceInspector } from './backend.js';
export { DEFAULT_SYNC_WRITE_MAX_BYTES, assertBlobKey, etagOf } from './blobs.js';
export { clampRange, exactly } from './stream-bounds.js';
export type { DiskBlobStoreOptions } from './blobs.js';
export {
  DEFAULT_S3_PART_SIZE,
  DEFAULT_S3_QUEUE_SIZE,
  DEFAULT_S3_REGION,
  DEFAULT_S3_CONNECT_TIMEOUT_MS,
  DEFAULT_S3_IDLE_TIMEOUT_MS,
  DEFAULT_S3_MAX_ATTEMPTS,
} from './s3-options.js';
export type { ResolvedS3Options } from './s3-options.js';
export { s3Error } from './s3-errors.js';
export {
  DEFAULT_UPLOAD_MAX_BYTES,
  DEFAULT_UPLOAD_TTL_SECONDS,
  DEFAULT_UPLOAD_CONTENT_TYPES,
  SNIFF_BYTES,
  checkUploadHead,
} from './uploads.js';
export type { UploadTokenOptions, UploadGrant, IssuedUpload, UploadRequest } from './uploads.js';
export { CappedBody } from './capped-body.js';
export { formatOfMime } from './otf.js';
export type { CachedImage, OnTheFlyOptions, OnTheFlyResponse } from './otf.js';
export type { ImageServiceOptions, TransformRequest, ImagesHostModule } from './module.js';
export type { ImageRoutesOptions, PublishUploadEvent } from './routes.js';
