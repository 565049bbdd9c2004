import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { DiskBlobStore, etagOf, isValidBlobKey, MemoryBlobStore } from '../src/index.js';

const dirs: string[] = [];
afterEach(async () => {
  while (dirs.length > 0) await rm(dirs.pop() as string, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'trib-blobs-'));
  dirs.push(d);
  return d;
}

describe('blob keys', () => {
  test.each(['a', 'uploads/abc123', 'derived/x_y-z/uploads/a.b.webp'])('accepts %s', (k) => expect(isValidBlobKey(k)).toBe(true));
  test.each(['', '../etc/passwd', 'a/../../b', '/abs', 'a//b', '.hidden', 'a/./b', 'a/..', 'a\\b', 'a b', 'a/', '%2e%2e', 'x'.repeat(513), 'a\0b'])(
    'refuses %j',
    (k) => expect(isValidBlobKey(k)).toBe(false),
  );
});

describe('DiskBlobStore', () => {
  test('put/get/head/delete, ETag is the content hash, writes leave no temp files', async () => {
    const root = await tempDir();
    const store = new DiskBlobStore(root);
    const info = await store.put('uploads/a1', Buffer.from('hello'), 'image/png');
    expect(info).toMatchObject({ key: 'uploads/a1', contentType: 'image/png', bytes: 5, etag: etagOf(Buffer.from('hello')) });
    expect((await store.get('uploads/a1'))?.data.toString()).toBe('hello');
    expect(await store.head('uploads/a1')).toEqual(info);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    expect(await store.head('uploads/none')).toBeUndefined();
    expect(await store.delete('uploads/a1')).toBe(true);
    expect(await store.get('uploads/a1')).toBeUndefined();
    expect(await store.delete('uploads/a1')).toBe(false);
  });

  test('path traversal is refused with INVALID_KEY on every call', async () => {
    const store = new DiskBlobStore(await tempDir());
    for (const key of ['../outside', 'a/../../outside', '/etc/passwd']) {
      await expect(store.put(key, Buffer.from('x'), 'image/png')).rejects.toMatchObject({ code: 'INVALID_KEY' });
      await expect(store.get(key)).rejects.toMatchObject({ code: 'INVALID_KEY' });
      await expect(store.head(key)).rejects.toMatchObject({ code: 'INVALID_KEY' });
      await expect(store.delete(key)).rejects.toMatchObject({ code: 'INVALID_KEY' });
    }
  });

  test('a key that collides with a directory fails as BACKEND_ERROR, not a crash', async () => {
    const store = new DiskBlobStore(await tempDir());
    await store.put('a/b', Buffer.from('x'), 'image/png');
    await expect(store.put('a/b/c', Buffer.from('y'), 'image/png')).rejects.toMatchObject({ code: 'BACKEND_ERROR' });
  });

  test('MemoryBlobStore validates keys too', async () => {
    await expect(new MemoryBlobStore().put('../x', Buffer.from('x'), 'image/png')).rejects.toMatchObject({ code: 'INVALID_KEY' });
  });
});
