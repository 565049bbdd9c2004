/**
 * Images across hosts (issue 23): what the object store costs, beside raw sharp in the same run.
 * One 3 MP JPEG (2048×1536, gradients + shapes + noise, as scripts/bench/images.ts makes it) →
 * 320 px wide JPEG q80 on every path:
 * (u) upload → thumbnail, per store (disk, S3): POST /v1/uploads (token), PUT the bytes through the
 *     upload route, then ImageService.transform — the image-transform block's host call: the source
 *     read from the store, the thumbnail rendered and put back. Latency one at a time (p50/p95 of
 *     every round's uploads), throughput at the concurrency below. The block's sandbox and consumer
 *     group are not in it (scripts/bench/images.ts measures those on the disk store).
 * (o) the on-the-fly URL over HTTP, per store: cold (every request a new source key: rendered, and on
 *     S3 written to the shared cache behind the answer); on S3, warm shared (a second node with an
 *     empty LRU asks for the same URLs: each served from the store, none rendered); warm local (the
 *     same node again: its LRU).
 * (s) raw sharp, in-process: sharp(buf).resize({width:320}).jpeg({quality:80}), a distinct input
 *     Buffer per transform, run before and after each round; each path's rate is compared with the
 *     mean of those two.
 * The S3 server is the testkit's (s3rver behind a SigV4-checking front, on 127.0.0.1) in this same
 * process, so its CPU (request parsing, hashing, file writes) is charged to the paths that use it.
 *
 * Run: node --import tsx scripts/bench/images-store.ts [--write] [--render]
 *   --write replaces (or appends) its section of BENCHMARKS.md and writes
 *   scripts/bench/results/images-store.json; --render rebuilds the section from that file without
 *   running anything. BENCH_STORE_ROUNDS (default 3) sets the rounds.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MemoryEngine } from '@tributary/engine';
import { startS3, type S3Server } from '@tributary/testkit';
// @tributary/images and sharp are reached in the images package's source, as images.ts does.
import {
  DiskBlobStore,
  DiskLruCache,
  ImageService,
  imageRoutes,
  OnTheFly,
  parseSpec,
  S3BlobStore,
  SharpBackend,
  UploadTokens,
  UrlSigner,
  type BlobStore,
} from '../../packages/images/src/index.js';
import { median } from './lib/hist.js';
import { machineInfo, machineLoad, type MachineInfo } from './lib/machine.js';
import { makePhoto } from './lib/photo.js';
import { BENCHMARKS_FILE, replaceSection } from './lib/section.js';

const C = {
  width: 2048,
  height: 1536,
  concurrency: 2 * availableParallelism(),
  rounds: Number(process.env.BENCH_STORE_ROUNDS ?? 3),
  /** Uploads per store per round at `concurrency`, then one at a time. */
  nUpload: 24,
  nLatency: 8,
  /** On-the-fly requests per store per round, cold; warm paths ask for the same URLs 4 times over. */
  nUrl: 24,
  nSharp: 24,
} as const;

const SPEC = parseSpec({ v: 1, steps: [{ op: 'resize', mode: 'fit', width: 320 }], output: { format: 'jpeg', quality: 80 } });

interface SharpChain {
  resize(o: { width: number }): SharpChain;
  jpeg(o: { quality: number }): SharpChain;
  toBuffer(): Promise<Buffer>;
}
type Sharp = ((input?: Buffer) => SharpChain) & { versions: Record<string, string> };
const sharp = createRequire(new URL('../../packages/images/package.json', import.meta.url))('sharp') as Sharp;

/** Runs `n` jobs with at most `concurrency` at once; their latencies (ms) and the wall seconds. */
async function pool(n: number, concurrency: number, job: (i: number) => Promise<void>): Promise<{ seconds: number; ms: number[] }> {
  const ms: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        await job(i);
        ms.push(performance.now() - t);
      }
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, ms };
}

/** One node's images over HTTP on 127.0.0.1: the upload and on-the-fly routes, an admin caller. */
interface Node {
  base: string;
  service: ImageService;
  otf: OnTheFly;
  close(): Promise<void>;
}

const signer = new UrlSigner([{ id: 'b1', secret: 'bench-signing-key-0123456789abcdef' }]);

async function startNode(store: BlobStore, engine: MemoryEngine, lruDir: string): Promise<Node> {
  const renderer = new SharpBackend();
  const service = new ImageService({ store, backend: renderer, inspector: renderer });
  const otf = new OnTheFly({ store, renderer, signer, cache: new DiskLruCache({ dir: lruDir, maxBytes: 256 * 2 ** 20 }) });
  const routes = imageRoutes({ store, tokens: new UploadTokens(engine.kv, { maxBytes: 8 * 2 ** 20 }), engine, otf });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = routes.find((r) => url.pathname.startsWith(r.prefix));
    if (route === undefined) return void res.writeHead(404).end();
    route.handle(req, res, { admin: true, grants: {} }, url).catch(() => res.writeHead(500).end());
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    service,
    otf,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Upload over HTTP, then the thumbnail as the block's host call makes it; the source key. */
async function uploadToThumb(node: Node, input: Buffer): Promise<string> {
  const t = await fetch(`${node.base}/v1/uploads`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  if (t.status !== 201) throw new Error(`token: ${t.status} ${await t.text()}`);
  const { uploadUrl } = (await t.json()) as { uploadUrl: string };
  const put = await fetch(node.base + uploadUrl, { method: 'PUT', body: input, headers: { 'content-type': 'image/jpeg' } });
  if (put.status !== 201) throw new Error(`upload: ${put.status} ${await put.text()}`);
  const { key } = (await put.json()) as { key: string };
  const out = await node.service.transform({ key, specs: { thumb: SPEC } });
  if (out.results[0]?.width !== 320) throw new Error(`thumbnail is ${out.results[0]?.width} px wide`);
  return key;
}

async function getUrl(node: Node, key: string, expect: string): Promise<void> {
  const res = await fetch(node.base + signer.path(SPEC, key));
  const body = await res.arrayBuffer();
  const cache = res.headers.get('x-tributary-cache');
  if (res.status !== 200 || cache !== expect || body.byteLength < 1000)
    throw new Error(`GET ${key}: ${res.status}, cache ${cache}, wanted ${expect}`);
}

interface Sample {
  perSec: number;
  /** The run's rate over the mean of raw sharp's runs just before and after it. */
  ofSharp: number;
}
export interface StoreBenchResult {
  machine: MachineInfo;
  otherCoresBefore: number;
  loadBefore: number[];
  loadAfter: number[];
  sharp: { version: string; libvips: string };
  input: { width: number; height: number; bytes: number };
  concurrency: number;
  rounds: number;
  seconds: number;
  /** Median transforms/s of raw sharp. */
  rawSharp: number;
  paths: Array<{ label: string; store: 'disk' | 's3' | '—'; perSec: number; ofSharp: number; runs: number; n: number }>;
  latency: Array<{ store: 'disk' | 's3'; p50: number; p95: number; n: number }>;
}

export async function runImagesStore(log: (s: string) => void = console.log): Promise<StoreBenchResult> {
  const started = performance.now();
  const machine = machineInfo();
  const otherCoresBefore = await machineLoad(1000);
  const loadBefore = loadavg();
  const input = await makePhoto(C.width, C.height);
  const dir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'trib-bench-store-'));
  const s3: S3Server = await startS3();
  const engine = new MemoryEngine();
  const stores: Record<'disk' | 's3', BlobStore> = {
    disk: new DiskBlobStore(join(dir, 'blobs')),
    s3: new S3BlobStore({
      bucket: s3.bucket,
      endpoint: s3.endpoint,
      region: s3.region,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    }),
  };
  const nodes: Node[] = [];
  const node = async (store: 'disk' | 's3', name: string): Promise<Node> => {
    const n = await startNode(stores[store], engine, join(dir, `lru-${name}`));
    nodes.push(n);
    return n;
  };
  const a = { disk: await node('disk', 'disk-a'), s3: await node('s3', 's3-a') };
  const samples = new Map<string, Sample[]>();
  const latencies: Record<'disk' | 's3', number[]> = { disk: [], s3: [] };
  const rawSharp: number[] = [];
  const copies = Array.from({ length: C.nSharp }, () => Buffer.from(input));
  const sharpRun = async (): Promise<number> => {
    const r = await pool(C.nSharp, C.concurrency, async (i) => {
      await sharp(copies[i]).resize({ width: 320 }).jpeg({ quality: 80 }).toBuffer();
    });
    rawSharp.push(C.nSharp / r.seconds);
    return C.nSharp / r.seconds;
  };
  try {
    // Warm-up, untimed: JIT, libvips, the S3 client's connections.
    for (const s of ['disk', 's3'] as const) await uploadToThumb(a[s], input);
    await sharpRun();
    rawSharp.length = 0;
    for (let round = 1; round <= C.rounds; round++) {
      const before = await sharpRun();
      const runs: Array<[string, number]> = [];
      for (const s of ['disk', 's3'] as const) {
        const keys: string[] = [];
        const up = await pool(C.nUpload, C.concurrency, async () => void keys.push(await uploadToThumb(a[s], input)));
        runs.push([`upload → thumbnail|${s}`, C.nUpload / up.seconds]);
        const one = await pool(C.nLatency, 1, async () => void (await uploadToThumb(a[s], input)));
        latencies[s].push(...one.ms);
        // The on-the-fly URL on the sources just uploaded: node A renders each (cold) …
        const cold = await pool(keys.length, C.concurrency, (i) => getUrl(a[s], keys[i] as string, 'miss'));
        runs.push([`URL, cold cache|${s}`, keys.length / cold.seconds]);
        await a[s].otf.settled();
        if (s === 's3') {
          // … a second node with an empty LRU gets each from the store, rendering none …
          const b = await node(s, `s3-b${round}`);
          const shared = await pool(keys.length, C.concurrency, (i) => getUrl(b, keys[i] as string, 'hit-shared'));
          runs.push([`URL, warm shared cache (another node)|${s}`, keys.length / shared.seconds]);
          if (b.otf.stats.transforms !== 0) throw new Error('node B rendered: the shared cache missed');
        }
        // … and node A again, from its own LRU.
        const local = await pool(4 * keys.length, C.concurrency, (i) => getUrl(a[s], keys[i % keys.length] as string, 'hit'));
        runs.push([`URL, warm local cache|${s}`, (4 * keys.length) / local.seconds]);
      }
      const after = await sharpRun();
      for (const [label, perSec] of runs) {
        const list = samples.get(label) ?? [];
        list.push({ perSec, ofSharp: perSec / ((before + after) / 2) });
        samples.set(label, list);
      }
      log(
        `round ${round}/${C.rounds}: raw sharp ${before.toFixed(1)} → ${after.toFixed(1)}/s; ${runs.map(([l, r]) => `${l} ${r.toFixed(1)}`).join('; ')}`,
      );
    }
  } finally {
    await Promise.allSettled(nodes.map((n) => n.close()));
    await engine.close();
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const paths: StoreBenchResult['paths'] = [...samples].map(([key, list]) => {
    const [label, store] = key.split('|') as [string, 'disk' | 's3'];
    return {
      label,
      store,
      perSec: median(list.map((x) => x.perSec)),
      ofSharp: median(list.map((x) => x.ofSharp)),
      runs: list.length,
      n: label.includes('local') ? 4 * C.nUrl : label.startsWith('upload') ? C.nUpload : C.nUrl,
    };
  });
  const pct = (xs: number[], p: number): number => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? 0;
  return {
    machine,
    otherCoresBefore,
    loadBefore,
    loadAfter: loadavg(),
    sharp: { version: sharp.versions.sharp ?? '?', libvips: sharp.versions.vips ?? '?' },
    input: { width: C.width, height: C.height, bytes: input.length },
    concurrency: C.concurrency,
    rounds: C.rounds,
    seconds: (performance.now() - started) / 1000,
    rawSharp: median(rawSharp),
    paths,
    latency: (['disk', 's3'] as const).map((s) => ({
      store: s,
      p50: pct(latencies[s], 0.5),
      p95: pct(latencies[s], 0.95),
      n: latencies[s].length,
    })),
  };
}

const SECTION_BEGIN = '<!-- images-store-bench:begin -->';
const SECTION_END = '<!-- images-store-bench:end -->';

export function renderImagesStoreSection(r: StoreBenchResult): string {
  const f = (x: number, d = 1): string => x.toFixed(d);
  const rows = r.paths.map(
    (p) =>
      `| ${p.label} | ${p.store === 's3' ? 'S3 (testkit s3rver)' : 'disk'} | **${f(p.perSec)}** | ${f(100 * p.ofSharp, 0)} % | ${p.runs} runs of ${p.n} |`,
  );
  return `${SECTION_BEGIN}
## Images across hosts: object store and shared rendition cache (issue 23)

Measured ${r.machine.date} by scripts/bench/images-store.ts (\`node --import tsx scripts/bench/images-store.ts --write\` reruns only this section; the run took ${f(r.seconds, 0)} s). Machine: ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGiB} GiB, Linux ${r.machine.kernel}, Node.js ${r.machine.node}, sharp ${r.sharp.version} / libvips ${r.sharp.libvips}. Other processes used ${f(r.otherCoresBefore, 2)} cores just before (other work shares this machine); load average ${r.loadBefore.map((x) => f(x, 2)).join(' / ')} before, ${r.loadAfter.map((x) => f(x, 2)).join(' / ')} after. ${r.rounds} short rounds (to keep the run under two minutes) on a shared machine: read the ratios to raw sharp, not the absolute rates.

Method: the same 2048×1536 JPEG (${f(r.input.bytes / 1024, 0)} KiB) → 320 px JPEG q80 on every path; **concurrency ${r.concurrency}** (two per core) except the latency row. Each round runs raw sharp (a distinct input Buffer per transform, in-process: the limit), then every path below, then raw sharp again; "vs raw sharp" is the median over rounds of a run's rate divided by the mean of that round's two raw sharp runs (median raw sharp: ${f(r.rawSharp)}/s). Both stores are local: the disk store on tmpfs, the S3 store on the testkit's S3 server (s3rver behind a SigV4-verifying front) **in the same process**, so its CPU (parsing, signature checks, file writes) is charged to the S3 rows, as a co-located store would be. Upload → thumbnail = \`POST /v1/uploads\` (token), \`PUT\` of the bytes through the upload route, then \`ImageService.transform\` (the image-transform block's host call: the source read from the store, the thumbnail rendered and put back); the block's sandbox hop is in the section above, not here. URL rows are \`GET /v1/images/…\` over keep-alive HTTP on 127.0.0.1: cold = a source never asked for (rendered; on S3 also written to the shared cache behind the answer); warm shared = a second node with an empty LRU asking for URLs the first node rendered (\`X-Tributary-Cache: hit-shared\`, checked on every response, and that node rendered none); warm local = the first node again (\`hit\`). The disk store has no shared level by default (\`sharedCache\` is off for it), so it has no warm-shared row.

| path | store | per second (median) | vs raw sharp | runs |
|---|---|---|---|---|
| raw sharp, in-process (the limit) | — | **${f(r.rawSharp)}** | 100 % | ${2 * r.rounds} runs of ${C.nSharp} |
${rows.join('\n')}

| upload → thumbnail, one at a time | p50 | p95 | uploads |
|---|---|---|---|
${r.latency.map((l) => `| ${l.store === 's3' ? 'S3 (testkit s3rver)' : 'disk'} | ${f(l.p50)} ms | ${f(l.p95)} ms | ${l.n} |`).join('\n')}

How to read it. Every S3 row pays, on this process's two cores, for both ends of each request: the
AWS SDK signing and sending, and the test server receiving, verifying the signature, hashing and
writing files in JavaScript. An upload → thumbnail on S3 moves the ${f(r.input.bytes / 2 ** 20)} MiB source twice (PUT
through the upload route, GET for the transform) and the thumbnail once; a cold URL GETs the source
and PUTs the rendition behind the answer: on a store that runs elsewhere (S3 itself,
MinIO on another host) the second half of that CPU leaves the node and latency grows by the network
instead. Warm local on S3 is below warm local on disk because every on-the-fly request asks the
store for the source's ETag (a HEAD): the rendition's identity includes it, so a replaced source is
never served stale; on disk that is a read of a small meta file. Warm shared is a GET of the
rendition (a few KiB) plus that HEAD and a header read, and no render: it stays well above raw sharp's
rate, which is what a second node gains over rendering again. The machine is shared with other work
(the "other processes" figure above), which moves every row by tens of percent between rounds:
compare rows within this table, each against raw sharp of its own round, not with the section above.
${SECTION_END}`;
}

export function writeImagesStoreSection(section: string, file = BENCHMARKS_FILE): void {
  replaceSection(SECTION_BEGIN, SECTION_END, section, file);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // --render: the section again from the last results, without running anything.
  const last = fileURLToPath(new URL('./results/images-store.json', import.meta.url));
  const r = process.argv.includes('--render') ? (JSON.parse(readFileSync(last, 'utf8')) as StoreBenchResult) : await runImagesStore();
  const section = renderImagesStoreSection(r);
  console.log(`\n${section}`);
  if (process.argv.includes('--write')) {
    const dir = fileURLToPath(new URL('./results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    if (!process.argv.includes('--render')) writeFileSync(`${dir}images-store.json`, `${JSON.stringify(r, null, 2)}\n`);
    writeImagesStoreSection(section);
    console.log('wrote the images-store section of BENCHMARKS.md and scripts/bench/results/images-store.json');
  }
  process.exit(0);
}
