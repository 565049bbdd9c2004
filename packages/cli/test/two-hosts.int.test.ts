import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSpec, S3BlobStore, SharpBackend } from '@tributary/images';
import { eventually, startRedis, startS3, type RedisServer, type S3Server } from '@tributary/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, startCli, type Running } from './cli.js';

// Two hosts the way a user runs them: two `tributary start` processes, each with its own --data
// folder, on one Redis and one S3 bucket (--blobs s3://…). An on-the-fly URL rendered by the first
// is answered by the second from the shared rendition cache in the bucket — which --blobs turns on
// by itself — and the second renders nothing (its X-Tributary-Cache says hit-shared). What the two
// nodes do with uploads and the image-transform block is in packages/node/test/two-hosts.int.test.ts.

let redis: RedisServer;
let s3: S3Server;
const procs: Running[] = [];
const dirs: string[] = [];
const urls: string[] = [];
const PREFIX = 'media/prod';
const TINY_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAAEklEQVR4nGM4kWJ0IsWIAUIBACiuBXmimEdRAAAAAElFTkSuQmCC',
  'base64',
);
let env: Record<string, string>;

beforeAll(async () => {
  [redis, s3] = await Promise.all([startRedis(), startS3()]);
  env = {
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_REGION: s3.region,
    TRIBUTARY_BLOBS: '',
    TRIBUTARY_S3_ENDPOINT: '',
  };
  for (let i = 0; i < 2; i++) {
    const data = await mkdtemp(join(tmpdir(), 'trib-cli-two-hosts-'));
    dirs.push(data);
    const { url, proc } = await startCli(
      [
        '--insecure',
        '--redis',
        redis.url,
        '--data',
        data,
        '--blobs',
        `s3://${s3.bucket}/${PREFIX}`,
        '--s3-endpoint',
        s3.endpoint,
        '--blocks',
        '/nonexistent',
        '--runners',
        '1',
        '--log-level',
        'warn',
      ],
      env,
    );
    procs.push(proc);
    urls.push(url);
  }
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(procs.map((p) => p.stop('SIGKILL')));
  await Promise.allSettled([redis?.stop(), s3?.stop(), ...dirs.map((d) => rm(d, { recursive: true, force: true }))]);
});

describe('two `tributary start --blobs s3://…` processes on one Redis', () => {
  it('a signed URL rendered by the first is served by the second from the bucket, not rendered again', async () => {
    const [a, b] = urls as [string, string];
    const issued = await fetch(`${a}/v1/uploads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(issued.status).toBe(201);
    const grant = (await issued.json()) as { uploadUrl: string; key: string };
    const backend = new SharpBackend();
    const photo = await backend.render(
      TINY_PNG,
      parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'scale', width: 400, height: 300 }], output: { format: 'jpeg' } }),
    );
    expect((await fetch(a + grant.uploadUrl, { method: 'PUT', body: photo.data, headers: { 'content-type': 'image/jpeg' } })).status).toBe(
      201,
    );
    const signed = await run(['image-url', grant.key, '--width', '100', '--format', 'webp', '--insecure'], env);
    expect(signed.code).toBe(0);
    // Printed as a URL on the default address; the path is what both nodes serve.
    const path = new URL(signed.stdout.trim()).pathname;

    const onA = await fetch(a + path);
    expect([onA.status, onA.headers.get('x-tributary-cache')]).toEqual([200, 'miss']);
    const bytes = Buffer.from(await onA.arrayBuffer());
    // A writes the rendition to the bucket behind its answer: wait until it is there, as any S3
    // client sees it (the key is the one A's PUT named).
    const put = await eventually(() => s3.requests.find((r) => r.method === 'PUT' && r.path.includes(`/${PREFIX}/renditions/`)), {
      timeoutMs: 10_000,
    });
    const bare = new S3BlobStore({
      bucket: s3.bucket,
      endpoint: s3.endpoint,
      region: s3.region,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    const objectKey = put.path.slice(`/${s3.bucket}/`.length).split('?')[0] as string;
    await eventually(() => bare.head(objectKey), { timeoutMs: 10_000 });

    const onB = await fetch(b + path);
    expect([onB.status, onB.headers.get('x-tributary-cache'), onB.headers.get('etag')]).toEqual([
      200,
      'hit-shared',
      onA.headers.get('etag'),
    ]);
    expect(Buffer.from(await onB.arrayBuffer()).equals(bytes)).toBe(true);
    expect((await fetch(b + path)).headers.get('x-tributary-cache')).toBe('hit');
    const m = await backend.probe(bytes);
    expect([m.format, m.width, m.height]).toEqual(['webp', 100, 75]);
    // Each --data folder holds only that node's first-level cache, no blobs.
    for (const dir of dirs) expect((await readdir(dir)).filter((d) => d === 'data' || d === 'meta')).toEqual([]);
  });
});
