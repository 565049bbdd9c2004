import { createRequire } from 'node:module';

interface SharpChain {
  composite(layers: Array<{ input: Buffer; blend: string; raw?: { width: number; height: number; channels: number } }>): SharpChain;
  raw(): SharpChain;
  jpeg(o: { quality: number }): SharpChain;
  toBuffer(): Promise<Buffer>;
}
type Sharp = (input?: Buffer | { create: Record<string, unknown> }) => SharpChain;
// Reached through the images package, as the benchmarks that transform it do.
const sharp = createRequire(new URL('../../../packages/images/package.json', import.meta.url))('sharp') as Sharp;

/**
 * The input the image benchmarks transform: a photo-like JPEG of `w` × `h` — smooth gradients and
 * shapes with gaussian noise on top, so it is not trivially compressible.
 */
export async function makePhoto(w: number, h: number): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#1e3a8a"/><stop offset="0.6" stop-color="#f59e0b"/><stop offset="1" stop-color="#7c2d12"/></linearGradient></defs>
    <rect width="${w}" height="${h}" fill="url(#g)"/>
    ${Array.from({ length: 40 }, (_, i) => `<circle cx="${(i * 347) % w}" cy="${(i * 211) % h}" r="${40 + ((i * 53) % 160)}" fill="hsl(${(i * 37) % 360},70%,55%)" fill-opacity="0.6"/>`).join('')}
  </svg>`;
  const noise = await sharp({
    create: { width: w, height: h, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } },
  })
    .raw()
    .toBuffer();
  return sharp(Buffer.from(svg))
    .composite([{ input: noise, blend: 'soft-light', raw: { width: w, height: h, channels: 3 } }])
    .jpeg({ quality: 90 })
    .toBuffer();
}
