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

/**
 * True when a GIF's data ends inside a block: the file was cut short. libvips (libnsgif) decodes
 * such a file without complaint, as the frames before the cut, even with `failOn: 'warning'`, so a
 * truncated upload would silently become a shorter animation. Walks the block structure (GIF89a
 * spec §§ 17–27): header, logical screen descriptor and global colour table, then extensions and
 * images, each a run of length-prefixed sub-blocks ended by a zero byte, up to the trailer (0x3B).
 * Data that ends after a complete block without the trailer is accepted (browsers show it, and some
 * encoders omit it); bytes after the trailer are ignored.
 */
export function gifTruncated(b: Uint8Array): boolean {
  if (b.length < 13) return true;
  let i = 13;
  const flags = b[10] as number;
  if (flags & 0x80) i += 3 * 2 ** ((flags & 0x07) + 1); // global colour table
  /** Skips sub-blocks from `i`; the index after their zero terminator, or -1 past the end. */
  const subBlocks = (at: number): number => {
    let j = at;
    for (;;) {
      if (j >= b.length) return -1;
      const n = b[j] as number;
      j += 1 + n;
      if (n === 0) return j;
    }
  };
  for (;;) {
    if (i > b.length) return true; // the colour table itself was cut
    if (i === b.length) return false; // complete blocks, no trailer
    const introducer = b[i];
    if (introducer === 0x3b) return false;
    if (introducer === 0x21) {
      // Extension: label, then sub-blocks.
      i = subBlocks(i + 2);
    } else if (introducer === 0x2c) {
      // Image descriptor (10 bytes), optional local colour table, LZW minimum code size, sub-blocks.
      if (i + 10 > b.length) return true;
      const local = b[i + 9] as number;
      i += 10;
      if (local & 0x80) i += 3 * 2 ** ((local & 0x07) + 1);
      i = subBlocks(i + 1);
    } else {
      // Not a block introducer: not a structure this check understands; libvips decides.
      return false;
    }
    if (i === -1) return true;
  }
}
