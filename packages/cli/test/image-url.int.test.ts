import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSpec, SharpBackend } from '@tributary/images';
import { afterEach, describe, expect, it } from 'vitest';
import { run, startCli, type Running } from './cli.js';

// `tributary image-url` signs offline with the key a `tributary start` uses, so a URL it prints is
// served by that broker: checked against real brokers started by the CLI, with real uploads.

const procs: Running[] = [];
const dirs: string[] = [];
afterEach(async () => {
  while (procs.length > 0) await procs.pop()?.stop('SIGKILL');
  while (dirs.length > 0) await rm(dirs.pop() as string, { recursive: true, force: true });
});

const sharpBackend = new SharpBackend();
const TINY_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAAEklEQVR4nGM4kWJ0IsWIAUIBACiuBXmimEdRAAAAAElFTkSuQmCC',
  'base64',
);

async function broker(args: string[], env: Record<string, string> = {}): Promise<string> {
  const data = await mkdtemp(join(tmpdir(), 'trib-image-url-'));
  dirs.push(data);
  const { url, proc } = await startCli([...args, '--data', data, '--blocks', '/nonexistent', '--log-level', 'warn'], env);
  procs.push(proc);
  return url;
}

/** Uploads a 400×300 JPEG the way a photo app does; returns its blob key. */
async function upload(url: string, token?: string): Promise<string> {
  const auth: Record<string, string> =
    token === undefined ? { 'content-type': 'application/json' } : { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const grant = await fetch(`${url}/v1/uploads`, { method: 'POST', headers: auth, body: '{}' });
  expect(grant.status).toBe(201);
  const { uploadUrl, key } = (await grant.json()) as { uploadUrl: string; key: string };
  const photo = await sharpBackend.render(
    TINY_PNG,
    parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'scale', width: 400, height: 300 }], output: { format: 'jpeg' } }),
  );
  const put = await fetch(url + uploadUrl, { method: 'PUT', headers: { 'content-type': 'image/jpeg' }, body: photo.data });
  expect(put.status).toBe(201);
  return key;
}

async function sign(args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await run(['image-url', ...args], env);
  expect(r).toMatchObject({ code: 0, stderr: '' });
  return r.stdout.trim();
}

describe('tributary image-url', () => {
  it('signs a URL that `start --insecure` serves transformed; a tampered one is refused', async () => {
    const url = await broker(['--insecure']);
    const key = await upload(url);
    const signed = await sign([key, '--width', '100', '--format', 'webp', '--insecure', '--url', url]);
    expect(signed.startsWith(`${url}/v1/images/`)).toBe(true);
    const res = await fetch(signed);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/webp');
    const probe = await sharpBackend.probe(Buffer.from(await res.arrayBuffer()));
    expect([probe.format, probe.width, probe.height]).toEqual(['webp', 100, 75]);
    // The signature covers the spec: another size under this URL's signature is refused.
    const bigger = await sign([key, '--width', '300', '--format', 'webp', '--insecure', '--url', url]);
    const [sig] = signed.slice(`${url}/v1/images/`.length).split('/');
    const [, biggerSpec] = bigger.slice(`${url}/v1/images/`.length).split('/');
    const forged = await fetch(`${url}/v1/images/${sig}/${biggerSpec}/${key}`);
    expect(forged.status).toBe(403);
    // A whole spec works too; `auto` answers by the Accept header.
    const auto = await sign([key, '--spec', '{"v":1,"steps":[{"op":"grayscale"}],"output":{"format":"auto"}}', '--insecure', '--url', url]);
    const avif = await fetch(auto, { headers: { accept: 'image/avif,image/webp,*/*' } });
    expect([avif.status, avif.headers.get('content-type'), avif.headers.get('vary')]).toEqual([200, 'image/avif', 'Accept']);
  });

  it('uses the broker secret, or TRIBUTARY_IMAGE_KEY(S) with rotation: old URLs keep working, unknown keys do not', async () => {
    const secret = 'image-url-test-secret-at-least-32-bytes-long';
    const k1 = `k1:${'1'.repeat(40)}`;
    const k2 = `k2:${'2'.repeat(40)}`;
    // The broker derives its key from the secret: a URL signed with --secret is served.
    const derived = await broker(['--secret', secret]);
    const adminKey = await upload(derived, secret);
    expect((await fetch(await sign([adminKey, '--width', '50', '--secret', secret, '--url', derived]))).status).toBe(200);
    expect((await fetch(await sign([adminKey, '--width', '50', '--secret', `${secret}-other`, '--url', derived]))).status).toBe(403);

    // Rotated keys, newest first: the broker verifies both; a URL from before the rotation still works.
    const rotated = await broker(['--secret', secret], { TRIBUTARY_IMAGE_KEYS: `${k2},${k1}` });
    const key = await upload(rotated, secret);
    // A URL from before the rotation, signed with the one key that was TRIBUTARY_IMAGE_KEY (id k1).
    const before = await sign([key, '--width', '60', '--url', rotated], { TRIBUTARY_IMAGE_KEY: '1'.repeat(40) });
    const after = await sign([key, '--width', '60', '--url', rotated], { TRIBUTARY_IMAGE_KEYS: `${k2},${k1}` });
    expect(after).toContain('/v1/images/k2.');
    expect((await fetch(before)).status).toBe(200);
    expect((await fetch(after)).status).toBe(200);
    const stranger = await sign([key, '--width', '60', '--url', rotated], { TRIBUTARY_IMAGE_KEYS: `k3:${'3'.repeat(40)}` });
    expect((await fetch(stranger)).status).toBe(403);
  });

  it('refuses bad usage with exit code 2 and says what is wrong', async () => {
    const clean = { TRIBUTARY_IMAGE_KEY: '', TRIBUTARY_IMAGE_KEYS: '', TRIBUTARY_SECRET: '' };
    expect(await run(['image-url', 'uploads/a'], clean)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('no image signing key'),
    });
    expect(await run(['image-url', 'uploads/a', '--insecure', '--mode', 'stretch'], clean)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--mode'),
    });
    expect(await run(['image-url', '../etc/passwd', '--insecure'], clean)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('invalid blob key'),
    });
    expect(await run(['image-url', 'uploads/a', '--insecure', '--spec', '{"v":1,"steps":[{"op":"explode"}]}'], clean)).toMatchObject({
      code: 2,
    });
    // A bad key is a usage error that names the variable and the entry's position, never its text.
    const short = await run(['image-url', 'uploads/a'], { ...clean, TRIBUTARY_IMAGE_KEY: 'short-secret-text' });
    expect(short).toMatchObject({ code: 2, stderr: expect.stringContaining('TRIBUTARY_IMAGE_KEY') });
    expect(short.stderr).not.toContain('short-secret-text');
    const list = await run(['image-url', 'uploads/a'], {
      ...clean,
      TRIBUTARY_IMAGE_KEYS: `k2:${'2'.repeat(40)},SUPERSECRETVALUE0123456789`,
    });
    expect(list).toMatchObject({ code: 2, stderr: expect.stringContaining('signing key #2') });
    expect(list.stderr).not.toContain('SUPERSECRET');
    // A single secret may contain ':' and ',': it is one secret, not a list.
    const colon = await run(['image-url', 'uploads/a'], { ...clean, TRIBUTARY_IMAGE_KEY: `prod:${'x'.repeat(40)},more` });
    expect(colon).toMatchObject({ code: 0, stdout: expect.stringContaining('/v1/images/k1.') });
  });
});
