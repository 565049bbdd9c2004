import sharp from 'sharp';
import { describe, expect, test, vi } from 'vitest';
import { ImageErrorCodes, parseSpec, SharpBackend, type ImageErrorCode } from '../src/index.js';
import { gifTruncated, jpegSize, pngSize } from '../src/internal.js';
import * as fx from './fixtures.js';

const backend = new SharpBackend();
const spec = (steps: unknown[], output: unknown = { format: 'original' }) => parseSpec({ v: 1, steps, output });

async function failsWith(p: Promise<unknown>, code: ImageErrorCode): Promise<void> {
  await expect(p).rejects.toMatchObject({ name: 'ImageError', code });
}

describe('sharp backend: sizes and formats', () => {
  test('fill to a 320 px square JPEG and limit to a 1280 px WebP', async () => {
    const src = await fx.plainJpeg(2000, 1000);
    const thumb = await backend.render(
      src,
      spec([{ op: 'resize', mode: 'fill', width: 320, height: 320 }], { format: 'jpeg', quality: 80 }),
    );
    expect([thumb.width, thumb.height, thumb.format]).toEqual([320, 320, 'jpeg']);
    const m = await sharp(thumb.data).metadata();
    expect([m.width, m.height, m.format]).toEqual([320, 320, 'jpeg']);
    expect(thumb.bytes).toBe(thumb.data.length);
    const large = await backend.render(src, spec([{ op: 'resize', mode: 'limit', width: 1280 }], { format: 'webp' }));
    expect([large.width, large.height, large.format]).toEqual([1280, 640, 'webp']);
    expect((await sharp(large.data).metadata()).format).toBe('webp');
  });

  test('each resize mode', async () => {
    const src = await fx.plainJpeg(400, 200);
    const size = async (steps: unknown[]) => {
      const r = await backend.render(src, spec(steps, { format: 'png' }));
      return [r.width, r.height];
    };
    expect(await size([{ op: 'resize', mode: 'scale', width: 100, height: 100 }])).toEqual([100, 100]);
    expect(await size([{ op: 'resize', mode: 'scale', width: 100 }])).toEqual([100, 50]);
    expect(await size([{ op: 'resize', mode: 'fit', width: 800, height: 800 }])).toEqual([800, 400]);
    expect(await size([{ op: 'resize', mode: 'limit', width: 800, height: 800 }])).toEqual([400, 200]);
    expect(await size([{ op: 'resize', mode: 'fill', width: 50, height: 80, gravity: 'auto' }])).toEqual([50, 80]);
    expect(await size([{ op: 'resize', mode: 'pad', width: 100, height: 100 }])).toEqual([100, 100]);
    expect(await size([{ op: 'crop', width: 30, height: 20, x: 390, y: 0 }])).toEqual([10, 20]);
    expect(await size([{ op: 'crop', width: 30, height: 20, gravity: 'southeast' }])).toEqual([30, 20]);
    expect(await size([{ op: 'rotate', angle: 90 }])).toEqual([200, 400]);
    expect(
      await size([{ op: 'round', radius: 'max' }, { op: 'grayscale' }, { op: 'blur', sigma: 1 }, { op: 'flip', axis: 'both' }]),
    ).toEqual([400, 200]);
  });

  test('fill keeps the side the gravity names', async () => {
    const src = await fx.plainJpeg(400, 200); // red left, blue right
    const pixel = async (gravity: string) => {
      const r = await backend.render(src, spec([{ op: 'resize', mode: 'fill', width: 10, height: 10, gravity }], { format: 'png' }));
      const { data } = await sharp(r.data).raw().toBuffer({ resolveWithObject: true });
      return [data[0], data[2]];
    };
    const [rw, bw] = (await pixel('west')) as [number, number];
    expect(rw).toBeGreaterThan(150);
    expect(bw).toBeLessThan(60);
    const [re, be] = (await pixel('east')) as [number, number];
    expect(re).toBeLessThan(60);
    expect(be).toBeGreaterThan(150);
  });

  test('rounded corners are transparent in PNG and white in JPEG', async () => {
    const src = await fx.plainJpeg(100, 100);
    const png = await backend.render(src, spec([{ op: 'round', radius: 'max' }], { format: 'png' }));
    const { data, info } = await sharp(png.data).raw().toBuffer({ resolveWithObject: true });
    expect(info.channels).toBe(4);
    expect(data[3]).toBe(0); // top-left corner alpha
    expect(data[(50 * 100 + 50) * 4 + 3]).toBe(255); // centre
  });
});

describe('sharp backend: odd and hostile inputs', () => {
  test('CMYK JPEG comes out sRGB', async () => {
    const out = await backend.render(await fx.cmykJpeg(), spec([{ op: 'resize', mode: 'fit', width: 60 }], { format: 'jpeg' }));
    const m = await sharp(out.data).metadata();
    expect(m.space).toBe('srgb');
    expect([out.width, out.height]).toEqual([60, 40]);
  });

  test('EXIF orientation is applied before the steps', async () => {
    const src = await fx.exifRotatedJpeg(); // stored 120×80, orientation 6
    const probe = await backend.probe(src);
    expect([probe.width, probe.height, probe.orientation]).toEqual([80, 120, 6]);
    const out = await backend.render(src, spec([{ op: 'resize', mode: 'fit', width: 40 }], { format: 'jpeg' }));
    expect([out.width, out.height]).toEqual([40, 60]);
    const m = await sharp(out.data).metadata();
    expect(m.orientation ?? 1).toBe(1);
  });

  test('16-bit PNG is read and written as 8-bit', async () => {
    const out = await backend.render(await fx.png16(), spec([{ op: 'resize', mode: 'scale', width: 32 }], { format: 'png' }));
    const m = await sharp(out.data).metadata();
    expect([m.width, m.height, m.depth]).toEqual([32, 24, 'uchar']);
  });

  test('animated GIF stays animated as GIF and WebP, first frame otherwise', async () => {
    const src = await fx.animatedGif(3);
    const gif = await backend.render(
      src,
      spec(
        [
          { op: 'resize', mode: 'fill', width: 30, height: 30 },
          { op: 'flip', axis: 'vertical' },
        ],
        { format: 'gif' },
      ),
    );
    expect([gif.width, gif.height, gif.pages]).toEqual([30, 30, 3]);
    const gm = await sharp(gif.data, { animated: true }).metadata();
    expect([gm.pages, gm.pageHeight, gm.width]).toEqual([3, 30, 30]);
    expect(gm.delay).toEqual([100, 100, 100]);
    const webp = await backend.render(src, spec([{ op: 'resize', mode: 'scale', width: 30 }], { format: 'webp' }));
    expect((await sharp(webp.data, { animated: true }).metadata()).pages).toBe(3);
    // Frame order survives the per-frame pipeline: first frame red, second green.
    const frames = await sharp(webp.data, { animated: true }).raw().toBuffer({ resolveWithObject: true });
    const frameBytes = 30 * 20 * frames.info.channels;
    expect(frames.data[0]).toBeGreaterThan(200);
    expect(frames.data[frameBytes + 1]).toBeGreaterThan(200);
    const png = await backend.render(src, spec([], { format: 'png' }));
    expect([png.pages, png.width, png.height]).toEqual([1, 60, 40]);
  });

  test('truncated JPEG is CORRUPT_INPUT', async () => {
    await failsWith(backend.render(await fx.truncatedJpeg(), spec([])), ImageErrorCodes.CORRUPT_INPUT);
  });

  test('a GIF cut short is CORRUPT_INPUT, not a shorter animation', async () => {
    const full = await fx.animatedGif(3);
    // libvips alone decodes these as 2 or 3 frames without an error.
    for (const fraction of [0.9, 0.75, 0.6, 0.45]) {
      const cut = full.subarray(0, Math.floor(full.length * fraction));
      await failsWith(
        backend.render(cut, spec([{ op: 'resize', mode: 'fit', width: 30 }], { format: 'gif' })),
        ImageErrorCodes.CORRUPT_INPUT,
      );
    }
    // Bytes after the trailer are not a truncation.
    const padded = await backend.render(Buffer.concat([full, Buffer.from('trailing bytes')]), spec([], { format: 'gif' }));
    expect(padded.pages).toBe(3);
  });

  test('the GIF block walk flags every cut that ends inside a block', async () => {
    const full = await fx.animatedGif(3);
    expect(gifTruncated(full)).toBe(false);
    let flagged = 0;
    for (let n = 0; n < full.length; n++) if (gifTruncated(full.subarray(0, n))) flagged++;
    // A cut that happens to fall between two blocks is a complete (shorter) file; every other is caught.
    expect(flagged).toBeGreaterThan(full.length * 0.9);
    expect(gifTruncated(fx.animationBombGif())).toBe(false);
  });

  test('garbage after a JPEG signature is CORRUPT_INPUT', async () => {
    await failsWith(backend.render(fx.corruptJpeg(), spec([])), ImageErrorCodes.CORRUPT_INPUT);
  });

  test('pixel bomb is INPUT_TOO_LARGE from the header, before decoding', async () => {
    const bomb = fx.pixelBombPng();
    expect(bomb.length).toBeLessThan(1024);
    // The header check names the limit and the claimed size; libvips' own pixel limit would not.
    const fromHeader = {
      name: 'ImageError',
      code: ImageErrorCodes.INPUT_TOO_LARGE,
      details: { limit: 'maxPixels', value: 100_000 * 100_000 },
    };
    await expect(backend.probe(bomb)).rejects.toMatchObject(fromHeader);
    await expect(backend.render(bomb, spec([]))).rejects.toMatchObject(fromHeader);
  });

  test('an animation bomb (a 5 KB GIF of 200 frames of 1118×1118) is refused from its header at the defaults', async () => {
    const bomb = fx.animationBombGif();
    expect(bomb.length).toBeLessThan(8192);
    const fromHeader = { code: ImageErrorCodes.INPUT_TOO_LARGE, details: { limit: 'maxTotalPixels', value: 1118 * 1118 * 200 } };
    await expect(backend.render(bomb, spec([{ op: 'resize', mode: 'fit', width: 320 }], { format: 'webp' }))).rejects.toMatchObject(
      fromHeader,
    );
    // maxTotalPixels counts only when the animation is kept: as a JPEG, only the first frame is decoded.
    const tall = fx.animationBombGif(150, 600); // 54 MP over all frames
    const still = await backend.render(tall, spec([{ op: 'resize', mode: 'fit', width: 100 }], { format: 'jpeg' }));
    expect([still.width, still.pages]).toEqual([100, 1]);
    await expect(backend.render(tall, spec([], { format: 'webp' }))).rejects.toMatchObject({ details: { limit: 'maxTotalPixels' } });
    // The same structure, small enough, is an ordinary animation.
    const out = await backend.render(fx.animationBombGif(4, 50), spec([{ op: 'resize', mode: 'fit', width: 25 }], { format: 'gif' }));
    expect([out.width, out.height, out.pages]).toEqual([25, 25, 4]);
  });

  test('byte, frame and output-size limits', async () => {
    const small = new SharpBackend({ maxInputBytes: 100, maxFrames: 2, maxPixels: 1_000_000 });
    await failsWith(small.render(await fx.plainJpeg(64, 64), spec([])), ImageErrorCodes.INPUT_TOO_LARGE);
    const frames = new SharpBackend({ maxFrames: 2 });
    await failsWith(frames.render(await fx.animatedGif(3), spec([])), ImageErrorCodes.INPUT_TOO_LARGE);
    const out = new SharpBackend({ maxPixels: 1_000_000 });
    await failsWith(
      out.render(await fx.plainJpeg(100, 100), spec([{ op: 'resize', mode: 'scale', width: 5000, height: 5000 }])),
      ImageErrorCodes.INPUT_TOO_LARGE,
    );
  });

  test('non-images and SVG are UNSUPPORTED_FORMAT', async () => {
    await failsWith(backend.render(Buffer.from('hello world, not an image'), spec([])), ImageErrorCodes.UNSUPPORTED_FORMAT);
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
    await failsWith(backend.render(svg, spec([])), ImageErrorCodes.UNSUPPORTED_FORMAT);
  });

  test('a transform past its time limit is TIMEOUT', async () => {
    const slow = new SharpBackend({ timeoutMs: 1 });
    const src = await fx.plainJpeg(3000, 3000);
    await failsWith(slow.render(src, spec([{ op: 'blur', sigma: 50 }], { format: 'avif' })), ImageErrorCodes.TIMEOUT);
  });

  test('animations take turns (maxConcurrentAnimations) without holding slots, so still images do not wait for them', async () => {
    // Two slots, one animation at a time: animations waiting for their turn must not sit on the
    // second slot, or a still image would wait for the first animation to finish.
    const b = new SharpBackend({ maxConcurrent: 2, maxConcurrentAnimations: 1 });
    const done: string[] = [];
    const blur = { op: 'blur', sigma: 60 } as const;
    // A: an animation that takes a while (60 frames of 300×300, two heavy blurs each).
    const a = b.render(fx.animationBombGif(60, 300), spec([blur, blur], { format: 'gif' })).then(() => done.push('A'));
    await vi.waitFor(() => expect(b.animating).toBe(1), { timeout: 5_000, interval: 5 });
    // B1, B2: small animations, queued behind A; C: a still image, which goes straight through.
    const small = await fx.animatedGif(4);
    const queued = ['B1', 'B2'].map((name) =>
      b.render(small, spec([{ op: 'resize', mode: 'fit', width: 30 }], { format: 'webp' })).then((r) => {
        done.push(name);
        return r;
      }),
    );
    await vi.waitFor(() => expect(b.running).toBe(1), { timeout: 5_000, interval: 5 }); // both probed, both waiting without a slot
    const c = b.render(await fx.plainJpeg(64, 64), spec([{ op: 'resize', mode: 'fit', width: 32 }])).then(() => done.push('C'));
    const [, outs] = await Promise.all([a, Promise.all(queued), c]);
    expect(done.slice(0, 2)).toEqual(['C', 'A']);
    expect(done.slice(2).sort()).toEqual(['B1', 'B2']);
    expect(outs.map((r) => r.pages)).toEqual([4, 4]);
    expect([b.animating, b.running]).toEqual([0, 0]);
  });

  test('a timed-out animation stops working and frees its slot, instead of finishing every frame', async () => {
    const slow = new SharpBackend({ timeoutMs: 30, maxConcurrent: 1 });
    // 190 frames of 500×500 × 3 blurs of sigma 100: a minute of work, one frame at a time.
    const src = fx.animationBombGif(190, 500);
    const blur = { op: 'blur', sigma: 100 } as const;
    await failsWith(slow.render(src, spec([blur, blur, blur], { format: 'gif' })), ImageErrorCodes.TIMEOUT);
    // The pass under way when the deadline passed finishes; the next frame is not started.
    await vi.waitFor(() => expect(slow.running).toBe(0), { timeout: 5_000, interval: 20 });
    const next = await slow.render(await fx.plainJpeg(64, 64), spec([{ op: 'resize', mode: 'fit', width: 32 }]));
    expect(next.width).toBe(32);
  });
});

describe('sharp backend: reading sizes from headers', () => {
  test('the JPEG and PNG header readers agree with libvips on every fixture, or step aside', async () => {
    const big = await sharp({ create: { width: 900, height: 700, channels: 3, background: '#468' } })
      .withMetadata({ orientation: 6, exif: { IFD0: { Copyright: 'x'.repeat(20_000) } } })
      .jpeg({ progressive: true })
      .toBuffer();
    const inputs = [
      await fx.plainJpeg(2000, 1000),
      await fx.cmykJpeg(),
      await fx.exifRotatedJpeg(),
      big,
      await fx.alphaPng(),
      await fx.png16(),
    ];
    for (const input of inputs) {
      const m = await sharp(input).metadata();
      const size = m.format === 'jpeg' ? jpegSize(input) : pngSize(input);
      expect(size).toEqual({ width: m.width, height: m.height });
    }
    expect(jpegSize(fx.corruptJpeg())).toBeUndefined();
    expect(pngSize(await fx.plainJpeg())).toBeUndefined();
  });

  test('an EXIF-rotated JPEG under a resize that only fits one way round is sized by libvips (exact limits)', async () => {
    // 6000 × 2000 displayed as 2000 × 6000: fit to width 6000 makes 6000 × 18000 = 108 MP one way,
    // 6000 × 2000 = 12 MP the other. Only the EXIF orientation decides, and only libvips reads it.
    const rotated = await sharp({ create: { width: 6000, height: 2000, channels: 3, background: '#888' } })
      .withMetadata({ orientation: 6 })
      .jpeg()
      .toBuffer();
    await failsWith(
      backend.render(rotated, spec([{ op: 'resize', mode: 'fit', width: 6000 }], { format: 'jpeg' })),
      ImageErrorCodes.INPUT_TOO_LARGE,
    );
    const upright = await sharp({ create: { width: 6000, height: 2000, channels: 3, background: '#888' } })
      .jpeg()
      .toBuffer();
    const out = await backend.render(upright, spec([{ op: 'resize', mode: 'fit', width: 6000 }], { format: 'jpeg' }));
    expect([out.width, out.height]).toEqual([6000, 2000]);
  });
});
