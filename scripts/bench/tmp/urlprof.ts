import { createRequire } from 'node:module';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { startBroker } from '@tributary/broker';
import { MemoryEngine } from '@tributary/engine';
import { createImages, parseSpec } from '../../../packages/images/src/index.js';
const sharp = createRequire(new URL('../../../packages/images/package.json', import.meta.url))('sharp') as any;
const W = 2048, H = 1536;
const noise = await sharp({ create: { width: W, height: H, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).raw().toBuffer();
const input: Buffer = await sharp(noise, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
const dir = await mkdtemp(join(tmpdir(), 'urlprof-'));
const engine = new MemoryEngine();
const images = createImages({ engine, dataDir: dir, signingKeys: 'u'.repeat(64) });
const broker = await startBroker({ engine, auth: { secret: 'images-bench-secret-0123456789abcdef' }, port: 0, host: '127.0.0.1', routes: images.routes });
const spec = parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fit', width: 320 }], output: { format: 'jpeg', quality: 80 } });
const N = Number(process.env.N ?? 200);
if (process.env.NOFILE) (images.store as any).file = undefined;
if (process.env.NOCACHE) sharp.cache(false); else if (process.env.CACHE) sharp.cache(true);
const T: Record<string, number> = {};
function wrap(obj: any, name: string, label: string) {
  const f = obj[name].bind(obj);
  obj[name] = async (...a: unknown[]) => { const t0 = performance.now(); try { return await f(...a); } finally { T[label] = (T[label] ?? 0) + performance.now() - t0; } };
}
if (process.env.TIME) {
  wrap(images.store, 'head', 'head'); wrap(images.store, 'file', 'file');
  wrap(images.renderer, 'probe', 'probe'); wrap(images.renderer, 'render', 'render');
  wrap(images.otf, 'get', 'otf.get');
}
const mode = process.env.MODE ?? 'url';
const keys = Array.from({ length: N }, (_, i) => `uploads/p-${i}`);
for (const k of keys) await images.store.put(k, input, 'image/jpeg');
const agent = new http.Agent({ keepAlive: true });
function get(url: string): Promise<number> {
  return new Promise((res, rej) => http.get(url, { agent }, (r) => { const c: Buffer[] = []; r.on('data', (d) => c.push(d)); r.on('end', () => res(r.statusCode ?? 0)); }).on('error', rej));
}
async function pool(n: number, job: (i: number) => Promise<void>) {
  let next = 0; const t0 = performance.now();
  await Promise.all(Array.from({ length: Number(process.env.C ?? 2) }, (_, k) => k).map(async () => { for (let i = next++; i < n; i = next++) await job(i); }));
  return (performance.now() - t0) / 1000;
}
for (const round of [1, 2, 3]) {
  const tag = `${round}`;
  const s = await pool(N, async (i) => {
    if (mode === 'sharp') { await sharp(input).resize({ width: 320 }).jpeg({ quality: 80 }).toBuffer(); return; }
    if (mode === 'sharpread') { const b = await readFile(join(dir, 'data', keys[i]!)); await sharp(b).resize({ width: 320 }).jpeg({ quality: 80 }).toBuffer(); return; }
    if (mode === 'sharpfile') { await sharp(join(dir, 'data', keys[i]!)).resize({ width: 320 }).jpeg({ quality: 80 }).toBuffer(); return; }
    if (mode === 'backend') { const o = await images.store.get(keys[i]!); await images.renderer.render(o!.data, spec); return; }
    if (mode === 'fetch') { const r = await fetch(`${broker.url}${images.signer.path(spec, keys[i]!)}?r=${tag}`); await r.arrayBuffer(); return; }
    const st = await get(`${broker.url}${images.signer.path(spec, keys[i]!)}?r=${tag}`);
    if (st !== 200) throw new Error(String(st));
  });
  console.log(mode, round, (N / s).toFixed(1), '/s', 'per request ms:', (2 * s * 1000 / N).toFixed(2), Object.entries(T).map(([k, v]) => `${k}=${(v / N).toFixed(2)}`).join(' '));
  for (const k of Object.keys(T)) delete T[k];
  // new cache keys per round: restart cache by re-putting sources (etag same...), so vary keys
  for (const k of keys) await images.store.put(k, Buffer.concat([input, Buffer.from(tag)]), 'image/jpeg');
}
await broker.close(); await engine.close();
