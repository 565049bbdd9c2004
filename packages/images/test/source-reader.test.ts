import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ImageErrorCodes, parseSpec, SharpBackend } from '../src/index.js';
import { SourceReader } from '../src/internal.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trib-source-reader-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, data: Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, data);
  return path;
}

describe('SourceReader', () => {
  test('reads the whole file into a buffer that is reused once released', async () => {
    const reader = new SourceReader(1 << 20, 2);
    const a = await file('a', Buffer.from('first file, longer than the second'));
    const b = await file('b', Buffer.from('second'));
    const first = reader.read(a, 34);
    expect(first?.data.toString()).toBe('first file, longer than the second');
    first?.release();
    expect(reader.pooled).toBe(1);
    const second = reader.read(b, 6);
    // Only the new file's bytes are visible, though the memory is the first read's.
    expect(second?.data.toString()).toBe('second');
    expect(second?.data.buffer).toBe(first?.data.buffer);
    expect(reader.pooled).toBe(0);
    second?.release();
    second?.release();
    expect(reader.pooled).toBe(1);
  });

  test('a buffer still in use is never handed out again', async () => {
    const reader = new SourceReader(1 << 20, 4);
    const a = await file('c', Buffer.from('aaaa'));
    const held = reader.read(a, 4);
    const other = reader.read(a, 4);
    expect(other?.data.buffer).not.toBe(held?.data.buffer);
    expect(held?.data.toString()).toBe('aaaa');
  });

  test('files over maxBytes (by their size on disk) are left to libvips; 0 turns reading off', async () => {
    const big = await file('big', Buffer.alloc(2000, 7));
    expect(new SourceReader(1000, 2).read(big, 2000)).toBeUndefined();
    // The meta said 10 bytes, but the file has 2000 now: its own size decides.
    expect(new SourceReader(1000, 2).read(big, 10)).toBeUndefined();
    expect(new SourceReader(0, 2).read(big, 1)).toBeUndefined();
    expect(new SourceReader(4000, 2).read(big, 10)?.data.length).toBe(2000);
  });

  test('a missing file is NOT_FOUND', () => {
    expect(() => new SourceReader(1 << 20, 2).read(join(dir, 'gone'), 10)).toThrow(
      expect.objectContaining({ code: ImageErrorCodes.NOT_FOUND }),
    );
  });

  test('keeps at most `keep` buffers, dropping the smallest', async () => {
    const reader = new SourceReader(8 << 20, 2);
    const sizes = [3 << 20, 1 << 20, 2 << 20];
    const paths = await Promise.all(sizes.map((n, i) => file(`s${i}`, Buffer.alloc(n, i))));
    const held = paths.map((p, i) => reader.read(p, sizes[i] as number));
    for (const h of held) h?.release();
    expect(reader.pooled).toBe(2);
    // The 1 MiB buffer was dropped: a 1 MiB file now takes the 2 MiB one, the smallest that fits.
    const again = reader.read(paths[1] as string, 1 << 20);
    expect(again?.data.buffer).toBe(held[2]?.data.buffer);
    expect(again?.data.every((x) => x === 1)).toBe(true);
  });
});

describe('SharpBackend with pooled reads', () => {
  test('concurrent renders from files each get their own image, pooled or not', async () => {
    const colours = ['#ff0000', '#00ff00', '#0000ff', '#ffff00', '#00ffff', '#ff00ff', '#808080', '#ffffff'];
    const files = await Promise.all(
      colours.map(async (c, i) => {
        const data = await sharp({ create: { width: 400 + i * 10, height: 300, channels: 3, background: c } })
          .jpeg({ quality: 95 })
          .toBuffer();
        return { path: await file(`img${i}.jpg`, data), bytes: data.length };
      }),
    );
    const spec = parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fit', width: 100 }], output: { format: 'png' } });
    for (const backend of [new SharpBackend({ maxConcurrent: 3 }), new SharpBackend({ maxConcurrent: 3 }, { syncReadMaxBytes: 0 })]) {
      // Twice over, so later renders run in buffers that earlier ones released.
      const outs = await Promise.all([...files, ...files].map((f) => backend.render(f, spec)));
      const means = await Promise.all(outs.map(async (o) => (await sharp(o.data).stats()).channels.map((ch) => Math.round(ch.mean))));
      const expected = colours.map((c) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)));
      for (const [i, m] of means.entries()) {
        for (const [k, v] of m.entries()) expect(Math.abs(v - (expected[i % colours.length]?.[k] ?? -1))).toBeLessThanOrEqual(3);
      }
      expect(outs.map((o) => o.width)).toEqual([...files, ...files].map(() => 100));
    }
  });
});
