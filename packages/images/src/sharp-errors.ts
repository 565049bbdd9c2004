import { ImageError, ImageErrorCodes } from './errors.js';

/**
 * The one place sharp's (libvips') error text is read. libvips has no error codes, so its messages
 * are classified here and nowhere else.
 */
export function mapSharpError(err: unknown): ImageError {
  if (err instanceof ImageError) return err;
  const text = err instanceof Error ? err.message : String(err);
  if (/pixel limit/i.test(text)) return new ImageError(ImageErrorCodes.INPUT_TOO_LARGE, text, { cause: err });
  if (/timeout/i.test(text)) return new ImageError(ImageErrorCodes.TIMEOUT, text, { cause: err });
  if (/unsupported image format|Input buffer contains unsupported/i.test(text)) {
    return new ImageError(ImageErrorCodes.UNSUPPORTED_FORMAT, text, { cause: err });
  }
  return new ImageError(ImageErrorCodes.CORRUPT_INPUT, `image could not be decoded: ${text}`, { cause: err });
}

/** The error of a transform past its deadline (`timeoutMs` is the limit, for the message). */
export function transformTimeout(timeoutMs: number): ImageError {
  return new ImageError(ImageErrorCodes.TIMEOUT, `transform exceeded ${timeoutMs} ms`);
}
