import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MemoryEngine } from '@tributary/engine';
import { parseSpec, SharpBackend } from '@tributary/images';
import { startNode } from '@tributary/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The README is the contract of a user's first five minutes: its upload commands are run here
// exactly as written (curl), against a node like `pnpm start`'s (insecure, images on), with only
// the port and the placeholders (<token>, photo.jpg) filled in.

const run = promisify(execFile);
const README = new URL('../../../README.md', import.meta.url);
const TINY_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DwnwEJMDEwMDIwAAAwBgEAq3sW7QAAAABJRU5ErkJggg==',
  'base64',
);

let dir: string;
let node: Awaited<ReturnType<typeof startNode>>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'readme-quickstart-'));
  node = await startNode({ engine: new MemoryEngine(), auth: { insecure: true }, port: 0, images: { dataDir: join(dir, 'blobs') } });
  const jpeg = (await new SharpBackend().render(TINY_PNG, parseSpec({ v: 1, steps: [], output: { format: 'jpeg' } }))).data;
  await writeFile(join(dir, 'photo.jpg'), jpeg);
});
afterAll(async () => {
  await node?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('README quick start', () => {
  it('the upload commands work as written: grant, then PUT the photo', async () => {
    const lines = (await readFile(README, 'utf8')).split('\n').filter((l) => l.startsWith('curl '));
    const grant = lines.find((l) => l.includes('-X POST') && l.includes('/v1/uploads'));
    const put = lines.find((l) => l.includes('-X PUT') && l.includes('/v1/uploads/'));
    expect(grant, 'the README grants an upload with curl').toBeDefined();
    expect(put, 'the README uploads with curl').toBeDefined();
    const local = (cmd: string): string => cmd.replace(/#.*$/, '').replaceAll('http://127.0.0.1:7700', node.broker.url);
    const g = await run('sh', ['-c', local(grant as string)], { cwd: dir });
    const body = JSON.parse(g.stdout) as { key?: string; uploadUrl?: string };
    expect(body.key).toMatch(/^uploads\//);
    const token = (body.uploadUrl ?? '').split('/').pop() as string;
    const p = await run('sh', ['-c', `${local(put as string).replace('<token>', token)} -w '\\n%{http_code}'`], { cwd: dir });
    const status = p.stdout.trim().split('\n').pop();
    expect(status).toBe('201');
  });
});
