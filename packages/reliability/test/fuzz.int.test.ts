// Bad input at volume: ≥ 100k random and mutated WebSocket frames and a few thousand HTTP requests
// (fast-check arbitraries, fixed seed printed for replay) against a broker process. The broker must
// not crash, must answer every frame with exactly one reply — a typed error for every bad one, never
// INTERNAL — and its memory must stay bounded. Frames are pipelined: a batch is written without
// waiting, then the replies are counted.
import { ErrorCodes } from '@tributary/protocol';
import { connectWs, type Frame, type TestSocket } from '@tributary/testkit';
import fc from 'fast-check';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frameArbitrary, requestArbitrary, type FuzzRequest } from '../src/fuzz.js';
import { sleep, until } from '../src/ledger.js';
import { killAll, spawnNode, type NodeProc } from '../src/procs.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_241_122);
const FRAMES = 100_000;
const CONNECTIONS = 8;
const BATCH = 1000;
const HTTP_REQUESTS = 3000;
const MAX_PAYLOAD = 1024;
const PER_IP = 40;
/** RSS growth allowed between the end of the warm-up (10% of the frames) and the end of the run. */
export const FUZZ_RSS_GROWTH_BOUND = 96 * 1024 * 1024;
const REPLIES = new Set(['error', 'ack', 'subscribed', 'unsubscribed', 'history', 'presence', 'pong', 'authed']);
const CODES = new Set<string>(Object.values(ErrorCodes));

let node: NodeProc;
beforeAll(async () => {
  node = await spawnNode({ broker: { maxPayloadBytes: MAX_PAYLOAD, maxConnectionsPerIp: PER_IP } });
});
afterAll(async () => {
  await killAll();
});

/** Counts replies and error codes on a raw socket. */
function counter(s: TestSocket): { replies: () => number; codes: Map<string, number> } {
  let replies = 0;
  const codes = new Map<string, number>();
  s.ws.on('message', (raw: Buffer) => {
    const f = JSON.parse(raw.toString()) as Frame;
    if (!REPLIES.has(f.type)) return;
    replies++;
    if (f.type === 'error') codes.set(String(f.code), (codes.get(String(f.code)) ?? 0) + 1);
  });
  // The testkit socket keeps every frame; this run only counts them.
  s.frames.length = 0;
  s.ws.on('message', () => (s.frames.length = 0));
  return { replies: () => replies, codes };
}

function httpSend(agent: Agent, base: URL, r: FuzzRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // Well-formed HTTP framing (a Content-Length for every body): what is fuzzed is the API, not
    // Node's HTTP parser, which answers unparseable bytes with a bare 400 and closes (tested below).
    const headers = r.body === undefined ? r.headers : { ...r.headers, 'content-length': String(Buffer.byteLength(r.body)) };
    const req = request({ host: base.hostname, port: base.port, method: r.method, path: r.path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

describe('fuzzing the broker', () => {
  it(`answers ${FRAMES} random and mutated frames with one typed reply each, without crashing or growing`, async () => {
    const frames = fc.sample(frameArbitrary(MAX_PAYLOAD), { numRuns: FRAMES, seed: SEED });
    const sockets = await Promise.all(Array.from({ length: CONNECTIONS }, () => connectWs(node.wsUrl)));
    const counters = sockets.map(counter);
    const sent = sockets.map(() => 0);
    let rssAfterWarmup = 0;
    for (let start = 0; start < FRAMES; start += BATCH * CONNECTIONS) {
      sockets.forEach((s, c) => {
        const from = start + c * BATCH;
        for (const f of frames.slice(from, Math.min(from + BATCH, FRAMES))) {
          s.sendRaw(f.data, f.binary);
          sent[c]!++;
        }
      });
      await until(() => counters.every((k, c) => k.replies() >= sent[c]!), `replies to frames up to ${start}`, 60_000);
      if (rssAfterWarmup === 0 && start + BATCH * CONNECTIONS >= FRAMES / 10) rssAfterWarmup = node.rss();
    }
    await sleep(200);
    const codes = new Map<string, number>();
    for (const k of counters) for (const [code, n] of k.codes) codes.set(code, (codes.get(code) ?? 0) + n);
    console.log(`fuzz: seed ${SEED}; ${FRAMES} frames; error codes ${JSON.stringify(Object.fromEntries(codes))}`);
    // Exactly one reply per frame: nothing was dropped unanswered (a client waiting forever).
    expect(counters.map((k) => k.replies())).toEqual(sent);
    for (const code of codes.keys()) expect(CODES.has(code)).toBe(true);
    expect(codes.get('INTERNAL')).toBeUndefined();
    // Every connection is still open and serving.
    for (const s of sockets) expect(await s.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    const growth = node.rss() - rssAfterWarmup;
    console.log(`fuzz: RSS after warm-up ${(rssAfterWarmup / 2 ** 20).toFixed(1)} MiB, growth ${(growth / 2 ** 20).toFixed(1)} MiB`);
    expect(growth).toBeLessThan(FUZZ_RSS_GROWTH_BOUND);
    await Promise.all(sockets.map((s) => s.close()));
    expect(node.alive()).toBe(true);
  });

  it(`answers ${HTTP_REQUESTS} random and mutated HTTP requests with a status and, for errors, a typed JSON error`, async () => {
    const requests = fc.sample(requestArbitrary(), { numRuns: HTTP_REQUESTS, seed: SEED });
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const base = new URL(node.url);
    const statuses = new Map<number, number>();
    const untyped: string[] = [];
    const resets: string[] = [];
    for (let i = 0; i < requests.length; i += 64) {
      await Promise.all(requests.slice(i, i + 64).map(async (r) => {
        const res = await httpSend(agent, base, r).catch((err: unknown) => ({ status: -1, body: `${String(err)} ${r.method} ${r.path} ${JSON.stringify(r.headers)} ${String(r.body).slice(0, 80)} (${r.body?.length})` }));
        if (res.status === -1) resets.push(res.body);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 400 && r.method !== 'HEAD') {
          let code: unknown;
          try {
            code = (JSON.parse(res.body) as { error?: { code?: unknown } }).error?.code;
          } catch {
            code = undefined;
          }
          if (typeof code !== 'string' || res.status >= 500) untyped.push(`${r.method} ${r.path} → ${res.status} ${res.body.slice(0, 120)}`);
        }
      }));
    }
    agent.destroy();
    console.log(`fuzz http: statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect(untyped).toEqual([]);
    expect(resets).toEqual([]);
    expect(node.alive()).toBe(true);
  });

  it('does not crash on a request target that is not a URL (`//`), on the WebSocket upgrade path or over HTTP', async () => {
    // Regression: `new URL('//', base)` threw inside the server's 'upgrade' listener, which ended
    // the process on one unauthenticated request.
    const base = new URL(node.url);
    const raw = (head: string): Promise<string> => new Promise((resolve) => {
      const s = connect({ host: base.hostname, port: Number(base.port) }, () => s.write(head));
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
      setTimeout(() => s.destroy(), 1000);
    });
    const upgrade = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';
    for (const target of ['//', '///', '//:/y//9', '//x/v1/ws']) {
      expect(await raw(`GET ${target} HTTP/1.1\r\nHost: x\r\n${upgrade}\r\n`)).toMatch(/^HTTP\/1\.1 404/);
      const http = await raw(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(http).toMatch(/^HTTP\/1\.1 404/);
      expect(http).toContain('"code":"NOT_FOUND"');
    }
    // Bytes that are not HTTP at all get Node's bare 400, and the broker goes on.
    expect(await raw('\x00\x01garbage\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
    expect(node.alive()).toBe(true);
  });

  it('survives slowloris (partial HTTP headers and partial WebSocket frames) and refuses connections past the per-IP limit with 4029', async () => {
    // Partial HTTP request heads, trickled: the broker keeps serving everyone else.
    const base = new URL(node.url);
    const loris = Array.from({ length: 100 }, () => {
      const s = connect({ host: base.hostname, port: Number(base.port) });
      s.on('error', () => {});
      s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
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
    await until(async () => {
      const s = await connectWs(node.wsUrl);
      const ok = s.frames[0]?.type === 'welcome';
      await s.close();
      return ok;
    }, 'connections accepted again', 10_000);
    expect(node.alive()).toBe(true);
  });
});
