import { MemoryEngine } from '@tributary/engine';
import { eventually } from '@tributary/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { startNode, type TributaryNode } from '../src/node.js';

// Hostile block versions given to `POST /v1/admin/replay`. The version runs in the runner processes,
// but what it publishes and what it writes to kv are kept by the node for the report (kv writes stay
// in memory: BlockRunner.trial). Unbounded, one replay of 1000 inputs could make the node hold tens of
// GiB and die of it. What a user notices: the replay answers, with the input where the bound was
// passed failing PAYLOAD_TOO_LARGE, and the node goes on serving.

const SECRET = 'hostile-replay-secret-0123456789abcdef';
const ADMIN = { admin: true, grants: {} } as const;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

let engine: MemoryEngine;
async function node(): Promise<TributaryNode> {
  engine = new MemoryEngine();
  cleanups.push(() => engine.close());
  const n = await startNode({ engine, auth: { secret: SECRET }, port: 0 });
  cleanups.push(() => n.close());
  for (let i = 0; i < 40; i++) await n.publisher.publish({ channel: 'src.a', data: { i }, principal: ADMIN });
  return n;
}

/** A version that does `op` 20 times per input with ~60 KB of text (`big`, different per input). */
const bomb = (op: string): string => `import { defineBlock } from '@tributary/block';
export default defineBlock({ name: 'bomb', trigger: { afterPublish: 'src.*' }, publishes: ['out.>'],
  async handle(msg, ctx) {
    const big = 'x'.repeat(60000) + msg.offset;
    for (let i = 0; i < 20; i++) { ${op} }
  } });`;

interface Report {
  results: Array<{ input: { offset: number }; outputs: unknown[]; error?: { code: string; message: string } }>;
  summary: { inputs: number; outputs: number };
}

async function replay(n: TributaryNode, source: string): Promise<{ status: number; bytes: number; body: Report }> {
  const res = await fetch(`${n.broker.url}/v1/admin/replay`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
    body: JSON.stringify({ source, from: 'src.a', since: '0', limit: 40 }),
  });
  const text = await res.text();
  return { status: res.status, bytes: Buffer.byteLength(text), body: JSON.parse(text) as Report };
}

describe('replay of a hostile version', () => {
  it('keeps at most 16 MiB of outputs: the input that passes it fails PAYLOAD_TOO_LARGE and the replay stops there', async () => {
    const n = await node();
    // 40 inputs × 20 publishes × 60 KB = 48 MB of outputs without a bound.
    const r = await replay(n, bomb("await ctx.publish('out.c' + i, big);"));
    expect(r.status).toBe(200);
    expect(r.bytes).toBeLessThan(20 * 1024 * 1024);
    const last = r.body.results.at(-1);
    expect(last?.error?.code).toBe('PAYLOAD_TOO_LARGE');
    expect(last?.error?.message).toMatch(/16 MiB/);
    expect(r.body.results.length).toBeLessThan(40);
    expect(r.body.summary.inputs).toBe(r.body.results.length);
    // The inputs before it ran whole.
    for (const x of r.body.results.slice(0, -1)) expect(x.outputs).toHaveLength(20);
    // The node still serves.
    expect((await fetch(`${n.broker.url}/healthz`)).status).toBe(200);
  });

  it('keeps at most 16 MiB of kv writes: writes past it fail PAYLOAD_TOO_LARGE, and nothing reaches the real store', async () => {
    const n = await node();
    // 40 inputs × 20 writes under distinct keys × 60 KB = 48 MB held by the node without a bound.
    const r = await replay(n, bomb("await ctx.kv.set('k' + msg.offset + '-' + i, big);"));
    expect(r.status).toBe(200);
    const failed = r.body.results.filter((x) => x.error !== undefined);
    expect(failed.length).toBeGreaterThan(0);
    for (const x of failed) expect(x.error?.code).toBe('PAYLOAD_TOO_LARGE');
    // The first inputs fit.
    expect(r.body.results[0]?.error).toBeUndefined();
    expect(await engine.kv.get('block:bomb', 'k1-0')).toBeUndefined();
  });

  it('refuses a config nested thousands deep (replay and deploy) with INVALID_BLOCK, and the node stays up', async () => {
    const n = await node();
    // Valid JSON that the node once passed on to its runners with JSON.stringify: past V8's stack,
    // that threw outside any request (the process's uncaught exception) or answered INTERNAL.
    const config = `{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    const source = bomb('');
    const post = async (path: string, body: string): Promise<{ status: number; code: string }> => {
      const res = await fetch(`${n.broker.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
        body,
      });
      return { status: res.status, code: ((await res.json()) as { error?: { code: string } }).error?.code ?? '' };
    };
    const tried = await post('/v1/admin/replay', `{"source":${JSON.stringify(source)},"from":"src.a","config":${config}}`);
    expect(tried).toEqual({ status: 422, code: 'INVALID_BLOCK' });
    const deployed = await post('/v1/admin/blocks', `{"source":${JSON.stringify(source)},"config":${config}}`);
    expect(deployed).toEqual({ status: 422, code: 'INVALID_BLOCK' });
    expect(n.blocks.runner.list()).toEqual([]);
    // A config of ordinary depth still works.
    expect((await post('/v1/admin/replay', JSON.stringify({ source, from: 'src.a', limit: 1, config: { a: [[1]] } }))).status).toBe(200);
    expect((await fetch(`${n.broker.url}/healthz`)).status).toBe(200);
  });

  it('stops when its caller goes away: a cancelled replay with into publishes nothing more', async () => {
    const n = await node();
    // Each input: one output (published under into), then a hang until the 400 ms wall limit.
    const source = `import { defineBlock } from '@tributary/block';
export default defineBlock({ name: 'slow', trigger: { afterPublish: 'src.*' }, publishes: ['out.>'], limits: { wallMs: 400 },
  async handle(msg, ctx) { await ctx.publish('out.x', msg.data); await new Promise(() => {}); } });`;
    const cancel = new AbortController();
    const request = fetch(`${n.broker.url}/v1/admin/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
      body: JSON.stringify({ source, from: 'src.a', since: '0', limit: 40, into: 'trial' }),
      signal: cancel.signal,
    });
    // The user gives up (Ctrl-C on tributary replay, a closed console tab) once the first output is there.
    await eventually(async () => (await engine.state('trial.out.x')).last >= 1, { timeoutMs: 10_000, message: 'a first output' });
    cancel.abort();
    await expect(request).rejects.toThrow();
    // 40 inputs × 400 ms: running on, it would publish an output every 400 ms, eight more in the next
    // 3.2 s. Stopped, at most the input in flight when the caller left (or, on a slow machine, the one
    // after it) has published.
    const seen = (await engine.state('trial.out.x')).last;
    await new Promise((resolve) => setTimeout(resolve, 3200));
    expect((await engine.state('trial.out.x')).last).toBeLessThanOrEqual(seen + 2);
  });

  it("refuses a system prefix as into: its outputs would pose as a block's log lines or dead letters", async () => {
    const n = await node();
    const source = `import { defineBlock } from '@tributary/block';
export default defineBlock({ name: 'echo', trigger: { afterPublish: 'src.*' }, publishes: ['echo'],
  async handle(msg, ctx) { await ctx.publish('echo', { level: 'error', message: 'forged' }); } });`;
    for (const into of ['$logs', '$dlq']) {
      const res = await fetch(`${n.broker.url}/v1/admin/replay`, {
        method: 'POST',
        headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
        body: JSON.stringify({ source, from: 'src.a', limit: 1, into }),
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('INVALID_CHANNEL');
      // Nothing in the log or dead letters of a block named echo.
      expect((await engine.state(`${into}.echo`)).last).toBe(0);
    }
  });
});
