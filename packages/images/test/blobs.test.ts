import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { DiskBlobStore, isValidBlobKey, MemoryBlobStore } from '../src/index.js';
import { etagOf } from '../src/internal.js';

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
  test.each([
    '',
    '../etc/passwd',
    'a/../../b',
    '/abs',
    'a//b',
    '.hidden',
    'a/./b',
    'a/..',
    'a\\b',
    'a b',
    'a/',
    '%2e%2e',
    'x'.repeat(513),
    'a\0b',
  ])('refuses %j', (k) => expect(isValidBlobKey(k)).toBe(false));
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

  // A thumbnail is written synchronously (up to syncWriteMaxBytes, 64 KiB by default), an upload
  // through the thread pool: both paths must store, refuse and clean up alike.
  const SMALL = Buffer.from('small object');
  const LARGE = Buffer.alloc(100 * 1024, 7);

  test.each([
    ['small', SMALL],
    ['large', LARGE],
  ])('a %s object round-trips, remakes a removed tmp dir and leaves no temp files', async (_, data) => {
    const root = await tempDir();
    const store = new DiskBlobStore(root);
    await store.put('uploads/first', data, 'image/png');
    await rm(join(root, 'tmp'), { recursive: true, force: true }); // e.g. cleaned by an operator
    const info = await store.put('derived/x/uploads/second', data, 'image/png');
    expect(info).toMatchObject({ bytes: data.length, etag: etagOf(data) });
    expect((await store.get('derived/x/uploads/second'))?.data.equals(data)).toBe(true);
    expect(await store.head('derived/x/uploads/second')).toEqual(info);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  test.each([
    ['small', SMALL],
    ['large', LARGE],
  ])('a %s object whose key collides with a directory fails as BACKEND_ERROR, not a crash, leaving no temp files', async (_, data) => {
    const root = await tempDir();
    const store = new DiskBlobStore(root);
    await store.put('a/b', Buffer.from('x'), 'image/png');
    await expect(store.put('a/b/c', data, 'image/png')).rejects.toMatchObject({ code: 'BACKEND_ERROR' });
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    expect((await store.get('a/b'))?.data.toString()).toBe('x');
  });

  test('syncWriteMaxBytes 0 writes even a thumbnail through the thread pool, with the same result', async () => {
    const store = new DiskBlobStore(await tempDir(), { syncWriteMaxBytes: 0 });
    expect(store.syncWriteMaxBytes).toBe(0);
    await store.put('uploads/t', SMALL, 'image/png');
    expect((await store.get('uploads/t'))?.data.equals(SMALL)).toBe(true);
  });

  test('a bad syncWriteMaxBytes is refused by name', async () => {
    const root = await tempDir();
    for (const v of [-1, 1.5, Number.NaN]) expect(() => new DiskBlobStore(root, { syncWriteMaxBytes: v })).toThrow(/syncWriteMaxBytes/);
  });

  test('MemoryBlobStore validates keys too', async () => {
    await expect(new MemoryBlobStore().put('../x', Buffer.from('x'), 'image/png')).rejects.toMatchObject({ code: 'INVALID_KEY' });
  });
});
