// Sizes read in JavaScript from the first bytes of a file, so the common case of a render skips
// libvips' separate header pass (see quickProbe in probe.ts for why that matters).

/** A JPEG's frame size from its first SOFn marker within `b`; undefined when not there. */
export function jpegSize(b: Buffer): { width: number; height: number } | undefined {
  let i = 2; // after SOI
  while (i + 9 <= b.length) {
    if (b[i] !== 0xff) return undefined;
    const m = b[i + 1] as number;
    if (m === 0xff) {
      i++; // fill byte
      continue;
    }
    if (m === 0x01 || (m >= 0xd0 && m <= 0xd8)) {
      i += 2; // markers without a length
      continue;
    }
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
    }
    if (m === 0xd9 || m === 0xda) return undefined; // end of image or start of scan: no frame header
    i += 2 + b.readUInt16BE(i + 2);
  }
  return undefined;
}

/** A PNG's size from its IHDR chunk, which the format puts first. */
export function pngSize(b: Buffer): { width: number; height: number } | undefined {
  if (b.length < 24 || b.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}
