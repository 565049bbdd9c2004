/**
 * Memory per idle connection: RSS of one server process (VmRSS from /proc/<pid>/status) before and
 * after opening 10,000 idle WebSockets, each subscribed to one of 100 channels, divided by 10,000.
 * Both readings are taken after two forced GCs in the server, so they compare settled heaps.
 * Tributary (MemoryEngine) is measured, with the raw `ws` server beside it as the floor.
 *
 * Run alone: node --import tsx scripts/bench/rss.ts
 */
import { pathToFileURL } from 'node:url';
import { openFilesLimit, rssKiB, sleep, spawnServer } from './lib/proc.js';
import { rawWs, tributary, type BenchConnection, type BenchSystem } from './lib/systems.js';

export const RSS = { connections: 10_000, channels: 100, batch: 250 } as const;

export interface RssResult {
  name: string;
  connections: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  bytesPerConnection: number;
  heapBytesPerConnection: number;
  /** Open-files limit inside the server process. */
  serverOpenFiles: string;
  /** Open-files limit of the load generator. */
  clientOpenFiles: string;
  openSeconds: number;
  skipped?: string;
}

async function measure(file: string, env: Record<string, string>, system: BenchSystem, log: (s: string) => void): Promise<RssResult> {
  const server = await spawnServer(file, env);
  const conns: BenchConnection[] = [];
  try {
    await sleep(500);
    await server.gc();
    const before = rssKiB(server.pid);
    const heapBefore = (await server.stats()).heapUsed;
    const url = `ws://127.0.0.1:${server.port}`;
    const t0 = performance.now();
    for (let i = 0; i < RSS.connections; i += RSS.batch) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(RSS.batch, RSS.connections - i) }, async (_, j) => {
          const c = await system.connect(url);
          await c.subscribe(`idle.ch${(i + j) % RSS.channels}`);
          return c;
        }),
      );
      conns.push(...batch);
    }
    const openSeconds = (performance.now() - t0) / 1000;
    await sleep(1000);
    await server.gc();
    await sleep(200);
    const after = rssKiB(server.pid);
    const heapAfter = (await server.stats()).heapUsed;
    const r: RssResult = {
      name: system.name,
      connections: conns.length,
      rssBeforeKiB: before,
      rssAfterKiB: after,
      bytesPerConnection: ((after - before) * 1024) / conns.length,
      heapBytesPerConnection: (heapAfter - heapBefore) / conns.length,
      serverOpenFiles: server.openFiles,
      clientOpenFiles: openFilesLimit(),
      openSeconds,
    };
    log(
      `  ${r.connections} idle connections: RSS ${(before / 1024).toFixed(1)} → ${(after / 1024).toFixed(1)} MiB, ` +
        `${(r.bytesPerConnection / 1024).toFixed(1)} KiB/connection (JS heap ${(r.heapBytesPerConnection / 1024).toFixed(1)} KiB), opened in ${openSeconds.toFixed(1)} s`,
    );
    return r;
  } finally {
    for (const c of conns) c.close();
    await server.stop();
  }
}

export async function runRss(log: (s: string) => void = console.log): Promise<RssResult[]> {
  const out: RssResult[] = [];
  const cases: Array<[string, Record<string, string>, BenchSystem]> = [
    ['tributary.ts', { BENCH_ENGINE: 'memory' }, tributary('Tributary, MemoryEngine')],
    ['rawws.ts', {}, rawWs('raw ws broadcast (the floor)')],
  ];
  for (const [file, env, system] of cases) {
    log(`rss ${system.name}`);
    try {
      out.push(await measure(file, env, system, log));
    } catch (err) {
      log(`  failed: ${(err as Error).stack ?? String(err)}`);
      out.push({
        name: system.name,
        connections: 0,
        rssBeforeKiB: 0,
        rssAfterKiB: 0,
        bytesPerConnection: NaN,
        heapBytesPerConnection: NaN,
        serverOpenFiles: '?',
        clientOpenFiles: openFilesLimit(),
        openSeconds: 0,
        skipped: `failed: ${(err as Error).message}`,
      });
    }
  }
  return out;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await runRss(), null, 2));
}
