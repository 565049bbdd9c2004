// The public API of @tributary/images: what other packages import and what the README documents.
// Everything else the package's own tests and benchmarks need is in ./internal (internal.ts), which
// carries no compatibility promise.
export { ImageError, ImageErrorCodes, isImageError } from './errors.js';
export type { ImageErrorCode } from './errors.js';
export { parseSpec, canonicalSpec, canonicalJson, specKey, encodeSpec, decodeSpec, resolveFormat, transformSpecSchema } from './spec.js';
export type { TransformSpec, Step } from './spec.js';
export { toCloudinaryTransformation, toCloudinaryEager } from './cloudinary-map.js';
export { SharpBackend } from './sharp-backend.js';
export { DEFAULT_IMAGE_LIMITS } from './limits.js';
export { CloudinaryBackend, parseCloudinaryUrl } from './cloudinary-backend.js';
export type { ImageBackend, TransformResult } from './backend.js';
export { DiskBlobStore, MemoryBlobStore, BLOB_KEY, isValidBlobKey } from './blobs.js';
export { putStreamTo, openBlob } from './blob-streams.js';
export type { BlobStore, BlobInfo, BlobStream, ByteRange, PutStreamOptions, DirectUploads } from './blobs.js';
export { S3BlobStore } from './s3-blobs.js';
export { parseS3Url, resolveS3BlobStoreOptions } from './s3-options.js';
export type { S3BlobStoreOptions } from './s3-options.js';
export { S3FailureReasons } from './s3-errors.js';
export type { S3FailureReason } from './s3-errors.js';
export { UploadTokens, checkUpload } from './uploads.js';
export { UrlSigner, DiskLruCache, OnTheFly, deriveSigningKey, parseSigningKeys } from './otf.js';
export type { SigningKey } from './otf.js';
export { ImageService, imagesModule } from './module.js';
export type { TransformOutcome } from './module.js';
export {
  imageRoutes,
  DEFAULT_OBJECTS_CHANNEL,
  DEFAULT_UPLOAD_GRANT_CHANNEL,
  REFUSED_BODY_DRAIN_BYTES,
  REFUSED_BODY_LINGER_MS,
} from './routes.js';
export type { ObjectCreatedEvent } from './routes.js';
export { createImages } from './images.js';
export type { ImagesOptions, Images } from './images.js';
