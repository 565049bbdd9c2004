import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startS3, type S3Server } from '@tributary/testkit';
import { DiskBlobStore, MemoryBlobStore, openBlob, putStreamTo, S3BlobStore, type BlobStore } from '../src/index.js';

// One contract, every store: the disk store (the default), S3 (against s3rver on loopback, behind
// the testkit's SigV4-verifying front) and the in-memory one. What a caller of a BlobStore may rely
// on is here; what is particular to one store is in its own file (blobs.test.ts, s3-blobs.test.ts).

let s3: S3Server;
let root: string;
beforeAll(async () => {
  [s3, root] = await Promise.all([startS3(), mkdtemp(join(tmpdir(), 'trib-contract-'))]);
});
afterAll(async () => {
  await Promise.all([s3?.stop(), rm(root, { recursive: true, force: true })]);
});

let n = 0;
const stores: Array<[string, () => BlobStore]> = [
  ['disk', () => new DiskBlobStore(join(root, `d${n++}`))],
  ['memory', () => new MemoryBlobStore()],
  [
    's3',
    () =>
      new S3BlobStore({
        bucket: s3.bucket,
        // A prefix per store: the tests of one store never see another's objects.
        prefix: `t${n++}/blobs`,
        endpoint: s3.endpoint,
        region: s3.region,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        partSize: 5 * 1024 * 1024,
      }),
  ],
];

/** `data` as a stream of `size`-byte chunks. */
async function* chunks(data: Buffer, size = 64 * 1024): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

/** A body that yields `first`, then fails. */
async function* failing(first: Buffer, err: Error): AsyncGenerator<Buffer> {
  yield first;
  throw err;
}

async function text(s: { body: AsyncIterable<unknown> } | undefined): Promise<string | undefined> {
  if (s === undefined) return undefined;
  const parts: Buffer[] = [];
  for await (const c of s.body) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
}

describe.each(stores)('BlobStore contract: %s', (_name, make) => {
  test('put, get, head and delete; a missing key is undefined / false, never an error', async () => {
    const store = make();
    const info = await store.put('uploads/a1', Buffer.from('hello'), 'image/png');
    expect(info).toMatchObject({ key: 'uploads/a1', contentType: 'image/png', bytes: 5 });
    expect(info.etag).toMatch(/^"[^"]+"$/);
    expect((await store.get('uploads/a1'))?.data.toString()).toBe('hello');
    expect(await store.head('uploads/a1')).toEqual(info);
    expect(await store.head('uploads/none')).toBeUndefined();
    expect(await store.get('uploads/none')).toBeUndefined();
    expect(await openBlob(store, 'uploads/none')).toBeUndefined();
    expect(await store.delete('uploads/a1')).toBe(true);
    expect(await store.get('uploads/a1')).toBeUndefined();
    expect(await store.delete('uploads/a1')).toBe(false);
  });

  test('keys that break the key rules are INVALID_KEY on every call', async () => {
    const store = make();
    for (const key of ['../x', 'a//b', '.incoming/x', '/abs']) {
      await expect(store.put(key, Buffer.from('x'), 'image/png')).rejects.toMatchObject({ code: 'INVALID_KEY' });
      await expect(store.get(key)).rejects.toMatchObject({ code: 'INVALID_KEY' });
      await expect(store.head(key)).rejects.toMatchObject({ code: 'INVALID_KEY' });
      await expect(store.delete(key)).rejects.toMatchObject({ code: 'INVALID_KEY' });
      await expect(putStreamTo(store, key, chunks(Buffer.from('x')), 'image/png')).rejects.toMatchObject({ code: 'INVALID_KEY' });
    }
  });

  test('the ETag follows the content: the same bytes the same tag, other bytes another', async () => {
    const store = make();
    const a = await store.put('k/one', Buffer.from('same'), 'image/png');
    const b = await store.put('k/two', Buffer.from('same'), 'image/png');
    const c = await store.put('k/one', Buffer.from('other'), 'image/png');
    expect(b.etag).toBe(a.etag);
    expect(c.etag).not.toBe(a.etag);
    expect((await store.get('k/one'))?.data.toString()).toBe('other');
    expect((await store.head('k/one'))?.etag).toBe(c.etag);
  });

  test('a streamed put of unknown length, larger than one S3 part (multipart there), reads back byte for byte', async () => {
    const store = make();
    const data = Buffer.alloc(11 * 1024 * 1024 + 7);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32BE(i, i);
    const info = await putStreamTo(store, 'big/one', chunks(data), 'image/jpeg');
    expect(info).toMatchObject({ key: 'big/one', bytes: data.length, contentType: 'image/jpeg' });
    expect(await store.head('big/one')).toEqual(info);
    expect((await store.get('big/one'))?.data.equals(data)).toBe(true);
    // A range across the first part boundary.
    const r = await openBlob(store, 'big/one', { start: 5 * 1024 * 1024 - 3, end: 5 * 1024 * 1024 + 4 });
    expect(r?.range).toEqual({ start: 5 * 1024 * 1024 - 3, end: 5 * 1024 * 1024 + 4 });
    const got: Buffer[] = [];
    for await (const c of r?.body ?? []) got.push(c as Buffer);
    expect(Buffer.concat(got).equals(data.subarray(5 * 1024 * 1024 - 3, 5 * 1024 * 1024 + 5))).toBe(true);
  });

  test('a streamed put of declared length stores it; a body shorter or longer than declared stores nothing', async () => {
    const store = make();
    const data = Buffer.from('0123456789');
    const info = await putStreamTo(store, 'decl/ok', chunks(data, 3), 'image/png', { bytes: 10 });
    expect(info.bytes).toBe(10);
    expect((await store.get('decl/ok'))?.data.toString()).toBe('0123456789');
    await expect(putStreamTo(store, 'decl/short', chunks(data, 3), 'image/png', { bytes: 11 })).rejects.toMatchObject({
      code: 'BACKEND_ERROR',
    });
    await expect(putStreamTo(store, 'decl/long', chunks(data, 3), 'image/png', { bytes: 9 })).rejects.toMatchObject({
      code: 'BACKEND_ERROR',
    });
    expect(await store.head('decl/short')).toBeUndefined();
    expect(await store.head('decl/long')).toBeUndefined();
  });

  test('a body that fails half-way rejects with its own error, stores nothing and leaves the old object', async () => {
    const store = make();
    await store.put('keep/me', Buffer.from('old'), 'image/png');
    const boom = Object.assign(new Error('client went away'), { code: 'CLOSED' });
    await expect(putStreamTo(store, 'keep/me', failing(Buffer.alloc(1000, 1), boom), 'image/png')).rejects.toBe(boom);
    await expect(putStreamTo(store, 'fresh/one', failing(Buffer.alloc(1000, 1), boom), 'image/png', { bytes: 5000 })).rejects.toBe(boom);
    expect((await store.get('keep/me'))?.data.toString()).toBe('old');
    expect(await store.head('fresh/one')).toBeUndefined();
  });

  test('ranges: a slice, to the end, an end past the object clamped; a start past the end is INVALID_SPEC', async () => {
    const store = make();
    await store.put('r/x', Buffer.from('abcdefghij'), 'image/png');
    const whole = await openBlob(store, 'r/x');
    expect(whole?.range).toEqual({ start: 0, end: 9 });
    expect(whole?.info.bytes).toBe(10);
    expect(await text(whole)).toBe('abcdefghij');
    const mid = await openBlob(store, 'r/x', { start: 2, end: 5 });
    expect(mid?.range).toEqual({ start: 2, end: 5 });
    expect(mid?.info.bytes).toBe(10);
    expect(await text(mid)).toBe('cdef');
    expect(await text(await openBlob(store, 'r/x', { start: 7 }))).toBe('hij');
    const clamped = await openBlob(store, 'r/x', { start: 8, end: 100 });
    expect(clamped?.range).toEqual({ start: 8, end: 9 });
    expect(await text(clamped)).toBe('ij');
    await expect(openBlob(store, 'r/x', { start: 10 })).rejects.toMatchObject({ code: 'INVALID_SPEC' });
  });
});
