import { deflateSync } from 'node:zlib';
import sharp from 'sharp';

// Test images are generated here, deterministically, so no binary fixture has to be trusted or kept
// in sync. One generator per odd or hostile input.

/** A still RGB JPEG of `width`×`height` with a red left half and a blue right half. */
export async function plainJpeg(width = 640, height = 480): Promise<Buffer> {
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      if (x < width / 2) px[i] = 220;
      else px[i + 2] = 220;
    }
  }
  return sharp(px, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

/** An RGBA PNG with a transparent border. */
export async function alphaPng(width = 200, height = 100): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 4, background: { r: 0, g: 128, b: 0, alpha: 0.5 } } })
    .png()
    .toBuffer();
}

/** A CMYK JPEG (print workflows produce these; browsers and naive decoders get colours wrong). */
export async function cmykJpeg(): Promise<Buffer> {
  return sharp({ create: { width: 120, height: 80, channels: 3, background: { r: 200, g: 30, b: 30 } } })
    .toColourspace('cmyk')
    .jpeg()
    .toBuffer();
}

/** A JPEG stored 120×80 with EXIF Orientation 6 (rotate 90° clockwise): displayed 80×120. */
export async function exifRotatedJpeg(): Promise<Buffer> {
  return sharp(await plainJpeg(120, 80))
    .withMetadata({ orientation: 6 })
    .jpeg()
    .toBuffer();
}

/** A 16-bit-per-channel PNG. */
export async function png16(): Promise<Buffer> {
  return sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 10, g: 200, b: 90 } } })
    .toColourspace('rgb16')
    .png()
    .toBuffer();
}

/** An animated GIF: `frames` frames of 60×40 in different colours, 100 ms each, looping. */
export async function animatedGif(frames = 3): Promise<Buffer> {
  const w = 60;
  const h = 40;
  const px = Buffer.alloc(w * h * frames * 4);
  const colours = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [255, 255, 0],
  ];
  for (let f = 0; f < frames; f++) {
    const [r, g, b] = colours[f % colours.length] as [number, number, number];
    for (let i = 0; i < w * h; i++) {
      const o = (f * w * h + i) * 4;
      px[o] = r;
      px[o + 1] = g;
      px[o + 2] = b;
      px[o + 3] = 255;
    }
  }
  return sharp(px, { raw: { width: w, height: h * frames, channels: 4, pageHeight: h } })
    .gif({ delay: Array(frames).fill(100), loop: 0 })
    .toBuffer();
}

/** The first half of a valid JPEG. */
export async function truncatedJpeg(): Promise<Buffer> {
  const full = await plainJpeg(256, 256);
  return full.subarray(0, Math.floor(full.length / 2));
}

/**
 * A pixel bomb: a 160-byte PNG whose header claims 100 000 × 100 000 px (10 Gpx, 40 GB decoded).
 * Only the header is valid; a decoder that trusted it would try to allocate it all.
 */
export function pixelBombPng(width = 100_000, height = 100_000): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  return Buffer.concat([
    Buffer.from('\x89PNG\r\n\x1a\n', 'binary'),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(1024))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * An animation bomb: a GIF of a few KB whose `frames` frames each fill a `side`×`side` canvas (1 px
 * of data each; the decoder paints the rest from the background). Decoded as an animation it is
 * side² × frames pixels: 250 MP at the defaults here, about 1 GB of RGBA.
 */
export function animationBombGif(frames = 200, side = 1118): Buffer {
  const u16 = (n: number): number[] => [n & 0xff, n >> 8];
  const parts: number[] = [
    ...Buffer.from('GIF89a', 'ascii'),
    ...u16(side),
    ...u16(side),
    0x80,
    0,
    0, // logical screen, global colour table of 2
    0,
    0,
    0,
    255,
    255,
    255,
    0x21,
    0xff,
    11,
    ...Buffer.from('NETSCAPE2.0', 'ascii'),
    3,
    1,
    0,
    0,
    0, // loop forever
  ];
  for (let f = 0; f < frames; f++) {
    parts.push(0x21, 0xf9, 4, 0x04, ...u16(10), 0, 0); // 100 ms, keep the previous frame
    parts.push(0x2c, ...u16(0), ...u16(0), ...u16(1), ...u16(1), 0); // a 1×1 image at the origin
    // LZW, minimum code size 2: clear (4), index 0 (or 1), end (5), in 3-bit codes, LSB first.
    parts.push(2, 2, f % 2 === 0 ? 0x44 : 0x4c, 0x01, 0);
  }
  parts.push(0x3b);
  return Buffer.from(parts);
}

/** Random bytes that start like a JPEG. */
export function corruptJpeg(): Buffer {
  const b = Buffer.alloc(2048, 0x5a);
  b[0] = 0xff;
  b[1] = 0xd8;
  b[2] = 0xff;
  return b;
}

let table: Uint32Array | undefined;
function crc32(buf: Buffer): number {
  if (table === undefined) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const byte of buf) c = (table[(c ^ byte) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
