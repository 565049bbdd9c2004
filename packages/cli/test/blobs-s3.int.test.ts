import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3BlobStore } from '@tributary/images';
import { startS3, type S3Server } from '@tributary/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, spawnCli, type Running } from './cli.js';

// `tributary start --blobs s3://bucket/prefix` end to end: the CLI process keeps its blobs on an
// S3-protocol server (s3rver on loopback, behind the testkit's SigV4-verifying front), configured
// the way a user does it — the flag, the endpoint flag and the AWS environment variables.

const JPEG = Buffer.from(
  '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/wAALCAABAAEBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAACf/EABQQAQAAAAAAAAAAAAAAAAAAAAD/2gAIAQEAAD8AKp//2Q==',
  'base64',
);

const JSON_TYPE = { 'content-type': 'application/json' };

let s3: S3Server;
let cli: Running;
let base: string;
let dataDir: string;
beforeAll(async () => {
  [s3, dataDir] = await Promise.all([startS3(), mkdtemp(join(tmpdir(), 'trib-cli-s3-'))]);
  cli = spawnCli(
    [
      'start',
      '--insecure',
      '--port',
      '0',
      '--blocks',
      join(dataDir, 'none'),
      '--data',
      dataDir,
      '--blobs',
      `s3://${s3.bucket}/photos/prod`,
      '--s3-endpoint',
      s3.endpoint,
    ],
    {
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_REGION: s3.region,
      TRIBUTARY_BLOBS: '',
      TRIBUTARY_S3_ENDPOINT: '',
    },
  );
  const line = await cli.waitFor((l) => l.startsWith('tributary listening on'));
  base = (/listening on (\S+)/.exec(line) as RegExpExecArray)[1] as string;
  await cli.waitFor((l) => l.startsWith('blobs:'));
});
afterAll(async () => {
  await cli?.stop();
  await Promise.all([s3?.stop(), rm(dataDir, { recursive: true, force: true })]);
});

describe('tributary start --blobs s3://…', () => {
  it('says where blobs go, stores an upload on S3 under the prefix and serves it back; nothing lands in --data', async () => {
    expect(cli.lines).toContain(`blobs: s3://${s3.bucket}/photos/prod at ${s3.endpoint}`);
    const t = (await (await fetch(`${base}/v1/uploads`, { method: 'POST', headers: JSON_TYPE })).json()) as {
      uploadUrl: string;
      key: string;
    };
    const up = await fetch(`${base}${t.uploadUrl}`, { method: 'PUT', body: JPEG, headers: { 'content-type': 'image/jpeg' } });
    expect(up.status).toBe(201);
    const info = (await up.json()) as { key: string; url: string; etag: string };
    const back = await fetch(`${base}${info.url}`);
    expect(back.status).toBe(200);
    expect(back.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await back.arrayBuffer()).equals(JPEG)).toBe(true);
    // The object is in the bucket, under the prefix, as any S3 client sees it.
    const bare = new S3BlobStore({
      bucket: s3.bucket,
      endpoint: s3.endpoint,
      region: s3.region,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    expect(await bare.head(`photos/prod/${info.key}`)).toMatchObject({ bytes: JPEG.length, contentType: 'image/jpeg', etag: info.etag });
    expect((await readdir(dataDir)).filter((d) => d === 'data' || d === 'meta')).toEqual([]);
  });

  it('hands out direct uploads: a presigned PUT to the S3 server, then completion', async () => {
    const t = (await (
      await fetch(`${base}/v1/uploads`, {
        method: 'POST',
        headers: JSON_TYPE,
        body: JSON.stringify({ direct: { bytes: JPEG.length, contentType: 'image/jpeg' } }),
      })
    ).json()) as { uploadUrl: string; headers: Record<string, string>; completeUrl: string; direct: boolean };
    expect(t.direct).toBe(true);
    expect(new URL(t.uploadUrl).origin).toBe(s3.endpoint);
    expect((await fetch(t.uploadUrl, { method: 'PUT', body: JPEG, headers: t.headers })).status).toBe(200);
    const done = await fetch(`${base}${t.completeUrl}`, { method: 'POST' });
    expect(done.status).toBe(201);
    const info = (await done.json()) as { url: string };
    expect(Buffer.from(await (await fetch(`${base}${info.url}`)).arrayBuffer()).equals(JPEG)).toBe(true);
  });

  it('wrong credentials or a missing bucket stop the start with the typed error, before the port is taken', async () => {
    const args = ['start', '--insecure', '--port', '0', '--blocks', join(dataDir, 'none'), '--data', dataDir, '--s3-endpoint', s3.endpoint];
    const env = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_REGION: s3.region, TRIBUTARY_BLOBS: '', TRIBUTARY_S3_ENDPOINT: '' };
    const wrong = await run([...args, '--blobs', `s3://${s3.bucket}/x`], { ...env, AWS_SECRET_ACCESS_KEY: 'not-the-secret' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/error BACKEND_ERROR: the S3 store refused the credentials/);
    expect(wrong.stdout).not.toMatch(/listening/);
    const missing = await run([...args, '--blobs', 's3://no-such-bucket/x'], { ...env, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/error BACKEND_ERROR: the S3 bucket does not exist/);
  });

  it('a malformed --blobs or a half-set pair of AWS keys is a usage error naming it', async () => {
    const bad = await run(['start', '--insecure', '--port', '0', '--blobs', '/var/blobs'], { TRIBUTARY_BLOBS: '' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--blobs must be s3:\/\/bucket\/prefix/);
    const half = await run(['start', '--insecure', '--port', '0', '--blobs', 's3://bucket-a/x'], {
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: '',
    });
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  });
});
