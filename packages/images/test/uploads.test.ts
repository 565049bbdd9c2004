import { MemoryEngine } from '@tributary/engine';
import { afterEach, describe, expect, test } from 'vitest';
import { checkUpload, UploadTokens } from '../src/index.js';
import { checkUploadHead, SNIFF_BYTES } from '../src/internal.js';
import * as fx from './fixtures.js';

const engines: MemoryEngine[] = [];
afterEach(async () => {
  while (engines.length > 0) await engines.pop()?.close();
});
function tokens(options: ConstructorParameters<typeof UploadTokens>[1] = {}): UploadTokens {
  const engine = new MemoryEngine();
  engines.push(engine);
  return new UploadTokens(engine.kv, options);
}

describe('upload tokens', () => {
  test('a token is redeemed once, even by concurrent requests', async () => {
    const t = tokens();
    const issued = await t.issue({ sub: 'alice' });
    expect(issued.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(issued.key).toMatch(/^uploads\/[A-Za-z0-9]{20}$/);
    const results = await Promise.allSettled([t.redeem(issued.token), t.redeem(issued.token), t.redeem(issued.token)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 'rejected'))
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'TOKEN_INVALID' });
    await expect(t.redeem(issued.token)).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
  });

  test('unknown, malformed and expired tokens are TOKEN_INVALID', async () => {
    const t = tokens({ ttlSeconds: 0.05 });
    await expect(t.redeem('x'.repeat(32))).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    await expect(t.redeem('../../etc')).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    const issued = await t.issue();
    await new Promise((r) => setTimeout(r, 120));
    await expect(t.redeem(issued.token)).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
  });

  test('requests are capped by the configuration', async () => {
    const t = tokens({ maxBytes: 1000, contentTypes: ['image/png', 'image/jpeg'] });
    const a = await t.issue({ maxBytes: 10_000_000, contentTypes: ['image/png', 'image/svg+xml'] });
    expect(a.maxBytes).toBe(1000);
    expect(a.contentTypes).toEqual(['image/png']);
    await expect(t.issue({ contentTypes: ['text/html'] })).rejects.toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
    expect(() => tokens({ contentTypes: ['image/svg+xml'] })).toThrow(TypeError);
  });
});

describe('direct upload tokens', () => {
  test('a direct token carries the exact size and type, capped like any other request', async () => {
    const t = tokens({ maxBytes: 1000, contentTypes: ['image/png', 'image/jpeg'] });
    const d = await t.issue({ direct: { bytes: 500, contentType: 'image/png' } });
    expect(d).toMatchObject({ maxBytes: 500, contentTypes: ['image/png'], direct: { bytes: 500, contentType: 'image/png' } });
    await expect(t.issue({ direct: { bytes: 1001, contentType: 'image/png' } })).rejects.toMatchObject({ code: 'TOO_LARGE' });
    await expect(t.issue({ direct: { bytes: 0, contentType: 'image/png' } })).rejects.toMatchObject({ code: 'INVALID_SPEC' });
    await expect(t.issue({ direct: { bytes: 10, contentType: 'image/gif' } })).rejects.toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
  });

  test('peek reads a grant without spending it; after redeem it is TOKEN_INVALID like everything else', async () => {
    const t = tokens();
    const issued = await t.issue({ sub: 'bob' });
    expect(await t.peek(issued.token)).toMatchObject({ key: issued.key, sub: 'bob' });
    expect(await t.peek(issued.token)).toMatchObject({ key: issued.key });
    await t.redeem(issued.token);
    await expect(t.peek(issued.token)).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    await expect(t.peek('nope')).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
  });
});

describe('upload checks', () => {
  const grant = { key: 'uploads/x', maxBytes: 100_000, contentTypes: ['image/jpeg', 'image/png'], expiresAt: Date.now() + 60_000 };
  test('size cap', async () => {
    expect(() => checkUpload({ ...grant, maxBytes: 10 }, Buffer.alloc(11))).toThrow(expect.objectContaining({ code: 'TOO_LARGE' }));
  });
  test('the first bytes alone decide, for a body still arriving or already in the store', async () => {
    const jpeg = await fx.plainJpeg(16, 16);
    expect(checkUploadHead(grant, jpeg.subarray(0, SNIFF_BYTES))).toBe('image/jpeg');
    expect(() => checkUploadHead(grant, Buffer.alloc(0))).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_MEDIA_TYPE' }));
    expect(() => checkUploadHead(grant, jpeg.subarray(0, SNIFF_BYTES), 'image/png')).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_MEDIA_TYPE' }),
    );
  });
  test('content type comes from the bytes; the declared one must agree', async () => {
    const jpeg = await fx.plainJpeg(16, 16);
    expect(checkUpload(grant, jpeg)).toBe('image/jpeg');
    expect(checkUpload(grant, jpeg, 'image/jpeg; charset=binary')).toBe('image/jpeg');
    expect(checkUpload(grant, jpeg, 'application/octet-stream')).toBe('image/jpeg');
    expect(() => checkUpload(grant, jpeg, 'image/png')).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_MEDIA_TYPE' }));
    expect(() => checkUpload(grant, Buffer.from('<html><script>'), 'image/jpeg')).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_MEDIA_TYPE' }),
    );
    const gif = await fx.animatedGif();
    expect(() => checkUpload(grant, gif)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_MEDIA_TYPE' }));
    expect(() => checkUpload(grant, Buffer.alloc(0))).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_MEDIA_TYPE' }));
  });
});
