import type { ImageFormat } from './spec.js';

/** Formats recognised by magic bytes. SVG, PDF and the rest are never sniffed as images on purpose. */
export type SniffedType = ImageFormat | 'tiff';

/** MIME types of sniffed formats. */
export const SNIFFED_MIME: Readonly<Record<SniffedType, string>> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  tiff: 'image/tiff',
};

const ascii = (b: Uint8Array, start: number, end: number): string => String.fromCharCode(...b.subarray(start, end));

/**
 * The image format of `head` (the first bytes of a file, ≥ 32 are enough) from its magic bytes, or
 * undefined. The declared Content-Type of an upload is never trusted: this is what decides.
 */
export function sniffImage(head: Uint8Array): SniffedType | undefined {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (head.length >= 8 && ascii(head, 0, 8) === '\x89PNG\r\n\x1a\n') return 'png';
  if (head.length >= 6 && (ascii(head, 0, 6) === 'GIF87a' || ascii(head, 0, 6) === 'GIF89a')) return 'gif';
  if (head.length >= 12 && ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return 'webp';
  if (head.length >= 4 && (ascii(head, 0, 4) === 'II*\0' || ascii(head, 0, 4) === 'MM\0*')) return 'tiff';
  if (head.length >= 16 && ascii(head, 4, 8) === 'ftyp') {
    // ISO-BMFF: the major brand, then compatible brands, up to the box size.
    const boxSize = Math.min(head.length, (head[0]! << 24) | (head[1]! << 16) | (head[2]! << 8) | head[3]!);
    const brands = [ascii(head, 8, 12)];
    for (let i = 16; i + 4 <= boxSize; i += 4) brands.push(ascii(head, i, i + 4));
    if (brands.includes('avif') || brands.includes('avis')) return 'avif';
  }
  return undefined;
}
