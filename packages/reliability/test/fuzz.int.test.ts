// Bad input at volume against real broker processes, on both engines (memory; Redis with two
// nodes sharing it) and both auth modes (insecure; token). Per cluster: fuzzed frames from
// src/fuzz.ts (hostile values in every field — nesting to 100,000, numbers past 2^53, 1 MB strings,
// lone surrogates —, junk on platform channels, invalid UTF-8, binary, fragmented messages) pipelined
// on raw connections with every reply checked against its frame; frames sent before `welcome`;
// partial, oversize and malformed WebSocket frames on their own connections; a checker channel that
// must lose nothing; a deploy whose notice must still reach every node; random HTTP requests. Every
// failure names the check, the frame (truncated) and the seed (FUZZ_SEED= to replay); the long run
// is `pnpm --filter @tributary/reliability fuzz` (src/fuzz-run.ts does the work for both).
import { startRedis, type RedisServer, type TestSocket, connectWs } from '@tributary/testkit';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPlatform, Cluster, Findings, FUZZ_MAX_PAYLOAD, fuzzFrames, fuzzHttp, summarize } from '../src/fuzz-run.js';
import { until } from '../src/ledger.js';
import { killAll } from '../src/procs.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_241_122);
/** Frames per cluster (four clusters); the long run (`fuzz` script) sends 200,000 per engine. */
const FRAMES = Number(process.env.FUZZ_FRAMES ?? 6000);
const HTTP_REQUESTS = 500;
const PER_IP = 40;
/** RSS growth allowed between the end of the warm-up (10% of the frames) and the end of the run. */
export const FUZZ_RSS_GROWTH_BOUND = 96 * 1024 * 1024;
const SETUPS = [
  ['memory', 'insecure'],
  ['memory', 'token'],
  ['redis', 'insecure'],
  ['redis', 'token'],
] as const;

let redis: RedisServer;
const clusters = new Map<string, Cluster>();
let node: Cluster['nodes'][number];
beforeAll(async () => {
  redis = await startRedis();
  await Promise.all(
    SETUPS.map(async ([engine, mode]) => {
      clusters.set(
        `${engine}/${mode}`,
        await Cluster.start({
          engine,
          mode,
          redis: redis.url,
          nodes: engine === 'redis' && mode === 'insecure' ? 2 : 1,
          maxPayloadBytes: FUZZ_MAX_PAYLOAD,
          maxConnectionsPerIp: PER_IP,
        }),
      );
    }),
  );
});
afterAll(async () => {
  await killAll();
  await redis?.stop();
});

describe('fuzzing the broker', () => {
  for (const [engine, mode] of SETUPS) {
    it(`${engine}/${mode}: ${FRAMES} fuzzed frames, connection abuse, a lossless checker channel, platform notices, ${HTTP_REQUESTS} HTTP requests`, async () => {
      const cluster = clusters.get(`${engine}/${mode}`) as Cluster;
      const findings = new Findings();
      const rss = engine === 'memory' && mode === 'insecure';
      const r = await fuzzFrames(cluster, findings, { seed: SEED, frames: FRAMES, rss });
      console.log(summarize(SEED, r));
      await checkPlatform(cluster, findings);
      const statuses = await fuzzHttp(cluster, findings, SEED, HTTP_REQUESTS);
      console.log(`fuzz http ${cluster.name}: statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
      // Every finding at once, each with its frame: a crash, INTERNAL, an undocumented code, a frame
      // with no reply or two, a frame before welcome dropped, loss on the checker channel, a dead notice.
      expect(findings.lines(SEED)).toEqual([]);
      if (rss) expect(r.rssGrowth).toBeLessThan(FUZZ_RSS_GROWTH_BOUND);
      expect(cluster.alive()).toBe(true);
    }, 180_000);
  }

  it('does not crash on a request target that is not a URL (`//`), on the WebSocket upgrade path or over HTTP', async () => {
    node = (clusters.get('memory/insecure') as Cluster).nodes[0] as typeof node;
    // Regression: `new URL('//', base)` threw inside the server's 'upgrade' listener, which ended
    // the process on one unauthenticated request.
    const base = new URL(node.url);
    const raw = (head: string): Promise<string> =>
      new Promise((resolve) => {
        const s = connect({ host: base.hostname, port: Number(base.port) }, () => s.write(head));
        let got = '';
        s.on('data', (d: Buffer) => (got += d.toString()));
        s.on('close', () => resolve(got));
        s.on('error', () => resolve(got));
        setTimeout(() => s.destroy(), 1000);
      });
    const upgrade =
      'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';
    for (const target of ['//', '///', '//:/y//9', '//x/v1/ws']) {
      expect(await raw(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${upgrade}\r\n`)).toMatch(/^HTTP\/1\.1 404/);
      const http = await raw(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      expect(http).toMatch(/^HTTP\/1\.1 404/);
      expect(http).toContain('"code":"NOT_FOUND"');
    }
    // Bytes that are not HTTP at all get Node's bare 400, and the broker goes on.
    expect(await raw('\x00\x01garbage\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
    expect(node.alive()).toBe(true);
  });

  it('survives slowloris (partial HTTP headers and partial WebSocket frames) and refuses connections past the per-IP limit with 4029', async () => {
    node = (clusters.get('memory/insecure') as Cluster).nodes[0] as typeof node;
    // Partial HTTP request heads, trickled: the broker keeps serving everyone else.
    const base = new URL(node.url);
    const loris = Array.from({ length: 100 }, () => {
      const s = connect({ host: base.hostname, port: Number(base.port) });
      s.on('error', () => {});
      s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
      return s;
    });
    // Partial WebSocket frames: a header announcing 1000 bytes, then 10 of them.
    const partial = await Promise.all(Array.from({ length: 10 }, () => connectWs(node.wsUrl)));
    for (const p of partial) {
      const raw = (p.ws as unknown as { _socket: import('node:net').Socket })._socket;
      raw.write(Buffer.from([0x81, 0xfe, 0x03, 0xe8, 1, 2, 3, 4, ...Array.from({ length: 10 }, () => 0x41)]));
    }
    for (const s of loris) s.write('a');
    expect((await fetch(`${node.url}/healthz`)).status).toBe(200);

    // Flood: PER_IP connections are allowed in total; the rest are refused with a typed error and 4029.
    const flood: TestSocket[] = [];
    for (let i = 0; i < PER_IP + 10; i++) flood.push(await connectWs(node.wsUrl));
    const refused = flood.filter((s) => s.frames[0]?.type === 'error');
    for (const s of refused) {
      expect(s.frames[0]).toMatchObject({ code: 'LIMIT_EXCEEDED' });
      expect((await s.closed).code).toBe(4029);
    }
    expect(refused.length).toBe(10 + partial.length);
    // Once they go, connections are accepted again (the per-IP count is released).
    await Promise.all(flood.map((s) => s.close()));
    for (const p of partial) p.ws.terminate();
    for (const s of loris) s.destroy();
    await until(
      async () => {
        const s = await connectWs(node.wsUrl);
        const ok = s.frames[0]?.type === 'welcome';
        await s.close();
        return ok;
      },
      'connections accepted again',
      10_000,
    );
    expect(node.alive()).toBe(true);
  });
});
