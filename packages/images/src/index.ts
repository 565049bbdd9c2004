export { ImageError, ImageErrorCodes, imageHttpStatus, isImageError } from './errors.js';
export type { ImageErrorCode } from './errors.js';
export {
  SPEC_VERSION,
  MAX_DIMENSION,
  MAX_STEPS,
  Gravities,
  ResizeModes,
  OutputFormats,
  transformSpecSchema,
  parseSpec,
  canonicalSpec,
  canonicalJson,
  specKey,
  encodeSpec,
  decodeSpec,
  resolveFormat,
  mimeOf,
  extOf,
  resizeSpec,
} from './spec.js';
export type {
  TransformSpec,
  Step,
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
export { toCloudinaryTransformation, toCloudinaryEager, cloudinaryFormat, fromCloudinaryFormat, blurStrength } from './cloudinary-map.js';
export type { CloudinaryMapOptions } from './cloudinary-map.js';
export { sniffImage, SNIFFED_MIME } from './sniff.js';
export type { SniffedType } from './sniff.js';
export { SharpBackend } from './sharp-backend.js';
export type { RenderOptions, SharpBackendOptions } from './sharp-backend.js';
export { DEFAULT_IMAGE_LIMITS, resolveImageLimits } from './limits.js';
export type { ImageLimits } from './limits.js';
export { mapSharpError } from './sharp-errors.js';
export { projectResize } from './limit-checks.js';
export type { ImageProbe } from './probe.js';
export type { RenderedImage } from './pipeline.js';
export { DEFAULT_SYNC_READ_MAX_BYTES } from './source-reader.js';
export type { ImageFile, ImageInput } from './input.js';
export { CloudinaryBackend, parseCloudinaryUrl, mapCloudinaryError } from './cloudinary-backend.js';
export type { CloudinaryConfig, CloudinaryResult } from './cloudinary-backend.js';
export { DiskBlobStore, MemoryBlobStore, BLOB_KEY, DEFAULT_SYNC_WRITE_MAX_BYTES, isValidBlobKey, assertBlobKey, etagOf } from './blobs.js';
export type { BlobStore, BlobInfo, DiskBlobStoreOptions } from './blobs.js';
export {
  UploadTokens,
  checkUpload,
  DEFAULT_UPLOAD_MAX_BYTES,
  DEFAULT_UPLOAD_TTL_SECONDS,
  DEFAULT_UPLOAD_CONTENT_TYPES,
} from './uploads.js';
export type { UploadTokenOptions, UploadGrant, IssuedUpload } from './uploads.js';
export { UrlSigner, DiskLruCache, OnTheFly, formatOfMime, deriveSigningKey, parseSigningKeys } from './otf.js';
export type { SigningKey, CachedImage, OnTheFlyOptions, OnTheFlyResponse } from './otf.js';
export { ImageService, imagesModule } from './module.js';
export type { TransformOutcome, ImageServiceOptions, TransformRequest, ImagesHostModule } from './module.js';
export type { ImageBackend, TransformResult, Versions, VersionsRequest, WantedVersion, SourceInspector } from './backend.js';
export { imageRoutes, DEFAULT_OBJECTS_CHANNEL, DEFAULT_UPLOAD_GRANT_CHANNEL, REFUSED_BODY_DRAIN_BYTES, REFUSED_BODY_LINGER_MS } from './routes.js';
export type { ImageRoute, RoutePrincipal, ObjectCreatedEvent, ImageRoutesOptions } from './routes.js';
export { createImages } from './images.js';
export type { ImagesOptions, Images } from './images.js';
