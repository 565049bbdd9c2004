import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, startS3, type S3Server } from '@tributary/testkit';
import { parseS3Url, resolveS3BlobStoreOptions, S3BlobStore, type S3BlobStoreOptions } from '../src/index.js';

// What is particular to the S3 store (the common contract is blob-store-contract.test.ts), against
// s3rver on loopback behind the testkit's front, which verifies SigV4 signatures and hands s3rver a
// PUT only once its body arrived in full (as S3 never shows a partial object).

let s3: S3Server;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.stop();
});

let n = 0;
function store(over: Partial<S3BlobStoreOptions> = {}): S3BlobStore {
  return new S3BlobStore({
    bucket: s3.bucket,
    prefix: `s${n++}`,
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    partSize: 5 * 1024 * 1024,
    ...over,
  });
}

async function* chunks(data: Buffer, size = 64 * 1024): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

const JPEG_HEAD = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0]);

describe('S3BlobStore', () => {
  test('options are checked once, naming the field; s3:// URLs give bucket and prefix', () => {
    expect(parseS3Url('s3://photos/tributary/prod')).toEqual({ bucket: 'photos', prefix: 'tributary/prod' });
    expect(parseS3Url('s3://photos')).toEqual({ bucket: 'photos', prefix: '' });
    expect(() => parseS3Url('http://photos')).toThrow(/s3:\/\//);
    expect(() => resolveS3BlobStoreOptions({ bucket: 'Bad_Bucket' })).toThrow(/bucket/);
    expect(() => resolveS3BlobStoreOptions({ bucket: 'ok-bucket', prefix: '/x' })).toThrow(/prefix/);
    expect(() => resolveS3BlobStoreOptions({ bucket: 'ok-bucket', partSize: 1024 })).toThrow(/partSize/);
    expect(() => resolveS3BlobStoreOptions({ bucket: 'ok-bucket', endpoint: 'localhost:9000' })).toThrow(/endpoint/);
    expect(resolveS3BlobStoreOptions({ bucket: 'ok-bucket', endpoint: 'http://127.0.0.1:9000' }).forcePathStyle).toBe(true);
    expect(resolveS3BlobStoreOptions({ bucket: 'ok-bucket' }).forcePathStyle).toBe(false);
  });

  test('a body of unknown length over one part is a multipart upload of 5 MiB parts; objects live under the prefix', async () => {
    const s = store();
    const data = Buffer.alloc(11 * 1024 * 1024, 7);
    const info = await s.putStream('uploads/big', chunks(data), 'image/jpeg');
    const name = `/${s3.bucket}/${s.prefix}/uploads/big`;
    const seen = s3.requests
      .filter((r) => r.path.startsWith(name))
      .map(
        (r) =>
          `${r.method} ${r.path
            .slice(name.length)
            .replace(/uploadId=[^&]+/, 'uploadId=U')
            .replace(/&?x-id=[A-Za-z]+/, '')}`,
      );
    expect(seen).toEqual(
      expect.arrayContaining([
        'POST ?uploads=',
        'PUT ?partNumber=1&uploadId=U',
        'PUT ?partNumber=2&uploadId=U',
        'PUT ?partNumber=3&uploadId=U',
        'POST ?uploadId=U',
      ]),
    );
    expect(seen.filter((r) => r.startsWith('PUT ?partNumber'))).toHaveLength(3);
    expect((await s.head('uploads/big'))?.etag).toBe(info.etag);
    // The same object seen through a store without the prefix: it is <prefix>/<key>.
    const bare = store({ prefix: '' });
    expect((await bare.head(`${s.prefix}/uploads/big`))?.bytes).toBe(data.length);
  });

  test('a wrong secret or an unknown access key is BACKEND_ERROR "credentials" (403), on reads and writes', async () => {
    const wrongSecret = store({ credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: 'not-the-secret' } });
    const unknownKey = store({ credentials: { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: s3.secretAccessKey } });
    for (const s of [wrongSecret, unknownKey]) {
      const expected = { code: 'BACKEND_ERROR', details: { reason: 'credentials', status: 403 } };
      await expect(s.check()).rejects.toMatchObject(expected);
      await expect(s.head('uploads/x')).rejects.toMatchObject(expected);
      await expect(s.put('uploads/x', Buffer.from('x'), 'image/png')).rejects.toMatchObject(expected);
      await expect(s.putStream('uploads/x', chunks(Buffer.from('xyz')), 'image/png', { bytes: 3 })).rejects.toMatchObject(expected);
    }
    expect(s3.refused.map((r) => r.code)).toEqual(expect.arrayContaining(['SignatureDoesNotMatch', 'InvalidAccessKeyId']));
  });

  test('a missing bucket is BACKEND_ERROR "bucket"; a store nobody listens on is BACKEND_ERROR "unreachable"', async () => {
    await expect(store().check()).resolves.toBeUndefined();
    await expect(store({ bucket: 'no-such-bucket' }).check()).rejects.toMatchObject({
      code: 'BACKEND_ERROR',
      details: { reason: 'bucket' },
    });
    await expect(store({ bucket: 'no-such-bucket' }).put('a/b', Buffer.from('x'), 'image/png')).rejects.toMatchObject({
      code: 'BACKEND_ERROR',
      details: { reason: 'bucket' },
    });
    const nobody = store({ endpoint: `http://127.0.0.1:${await freePort()}`, maxAttempts: 1 });
    await expect(nobody.head('a/b')).rejects.toMatchObject({ code: 'BACKEND_ERROR', details: { reason: 'unreachable' } });
    await expect(nobody.check()).rejects.toMatchObject({ code: 'BACKEND_ERROR', details: { reason: 'unreachable' } });
  });

  test('presigned PUT: S3 takes exactly the signed size and type and refuses any other; commit makes it the object', async () => {
    const s = store();
    const body = Buffer.concat([JPEG_HEAD, Buffer.alloc(100, 1)]);
    const p = await s.direct.presignPut('uploads/d1', { bytes: body.length, contentType: 'image/jpeg', expiresInSeconds: 60 });
    expect(p.headers).toEqual({ 'content-type': 'image/jpeg' });
    expect(new URL(p.url).searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;content-type;host');
    const put = (data: Buffer, type: string): Promise<Response> =>
      fetch(p.url, { method: 'PUT', body: data, headers: { 'content-type': type } });
    expect((await put(Buffer.concat([body, Buffer.from('x')]), 'image/jpeg')).status).toBe(403);
    expect((await put(body.subarray(1), 'image/jpeg')).status).toBe(403);
    expect((await put(body, 'text/html')).status).toBe(403);
    expect(await s.direct.inspect('uploads/d1', 64)).toBeUndefined();
    expect((await put(body, 'image/jpeg')).status).toBe(200);
    // Pending: not the object yet.
    expect(await s.head('uploads/d1')).toBeUndefined();
    const pending = await s.direct.inspect('uploads/d1', 4);
    expect(pending).toMatchObject({ bytes: body.length });
    expect(pending?.head.equals(JPEG_HEAD.subarray(0, 4))).toBe(true);
    const info = await s.direct.commit('uploads/d1', { contentType: 'image/jpeg', version: pending?.version ?? '', bytes: body.length });
    expect(await s.head('uploads/d1')).toEqual(info);
    expect((await s.get('uploads/d1'))?.data.equals(body)).toBe(true);
    expect(await s.direct.inspect('uploads/d1', 4)).toBeUndefined();
  });

  test('an expired presigned URL is refused', async () => {
    const s = store();
    const p = await s.direct.presignPut('uploads/late', { bytes: 3, contentType: 'image/png', expiresInSeconds: 1 });
    const url = new URL(p.url);
    // Rewriting the date would break the signature; ask the front what it does with an old one instead.
    url.searchParams.set('X-Amz-Date', '20200101T000000Z');
    const r = await fetch(url, { method: 'PUT', body: Buffer.from('abc'), headers: { 'content-type': 'image/png' } });
    expect(r.status).toBe(403);
    expect(await s.direct.inspect('uploads/late', 4)).toBeUndefined();
  });
});

describe('S3BlobStore when the server goes away mid-upload', () => {
  test('a streamed PUT and a multipart upload both fail typed, and nothing of either is visible after a restart', async () => {
    const s = store({ maxAttempts: 1 });
    await s.put('uploads/old', Buffer.from('old'), 'image/png');
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let sent = 0;
    /** 64 KiB chunks; after `before` bytes it waits for the gate (the server is killed meanwhile). */
    async function* slow(total: number, before: number): AsyncGenerator<Buffer> {
      while (sent < total) {
        if (sent >= before) await gate;
        const c = Buffer.alloc(Math.min(64 * 1024, total - sent), 3);
        sent += c.length;
        yield c;
      }
    }
    const known = s.putStream('uploads/old', slow(2 * 1024 * 1024, 1024 * 1024), 'image/png', { bytes: 2 * 1024 * 1024 });
    const big = store({ prefix: s.prefix, maxAttempts: 1 });
    let sentBig = 0;
    async function* slowBig(): AsyncGenerator<Buffer> {
      while (sentBig < 12 * 1024 * 1024) {
        if (sentBig >= 6 * 1024 * 1024) await gate;
        sentBig += 256 * 1024;
        yield Buffer.alloc(256 * 1024, 4);
      }
    }
    const multipart = big.putStream('uploads/multi', slowBig(), 'image/png');
    while (sent < 1024 * 1024 || sentBig < 6 * 1024 * 1024) await new Promise((r) => setTimeout(r, 10));
    await s3.kill();
    release();
    const expected = { code: 'BACKEND_ERROR', details: { reason: 'unreachable' } };
    await expect(known).rejects.toMatchObject(expected);
    await expect(multipart).rejects.toMatchObject(expected);
    await s3.restart();
    expect((await s.get('uploads/old'))?.data.toString()).toBe('old');
    expect(await s.head('uploads/multi')).toBeUndefined();
  });
});
