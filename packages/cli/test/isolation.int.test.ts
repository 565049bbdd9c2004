import { MemoryEngine } from '@tributary/engine';
import { compileSource } from '@tributary/runtime';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startNode, type TributaryNode } from '@tributary/node';

// The node as a user runs it: a runaway request block and a killed runner process, while a
// WebSocket client on the same node publishes and receives. Orders and outcomes, not timings.

const SPIN = `
import { defineBlock } from '@tributary/block';
export default defineBlock({
  name: 'spin',
  trigger: { request: true },
  limits: { cpuMs: 5000, wallMs: 10000 },
  handle(req) {
    const until = Date.now() + Number((req.body as { ms?: number }).ms ?? 0);
    while (Date.now() < until) {}
    return { body: { spun: true } };
  },
});`;

let node: TributaryNode;
let engine: MemoryEngine;

beforeAll(async () => {
  engine = new MemoryEngine();
  node = await startNode({ engine, auth: { insecure: true }, port: 0, logger: pino({ level: 'silent' }), runners: { size: 1 } });
  await node.blocks.deploy(await compileSource(SPIN), {});
});
afterAll(async () => {
  await node?.close();
  await engine?.close();
});

const spin = (ms: number) =>
  fetch(`${node.broker.url}/v1/blocks/spin/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ms }),
  });

/** Opens a WebSocket, subscribes to `channel`, and resolves with a function that round-trips one message. */
async function roundTripper(channel: string): Promise<{ roundTrip: () => Promise<void>; close: () => void }> {
  const ws = new WebSocket(node.broker.wsUrl);
  const frames: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (raw) => {
    frames.push(JSON.parse(String(raw)) as Record<string, unknown>);
    for (const w of waiters.splice(0)) w();
  });
  const next = async (type: string): Promise<Record<string, unknown>> => {
    for (;;) {
      const i = frames.findIndex((f) => f.type === type);
      if (i !== -1) return frames.splice(i, 1)[0] as Record<string, unknown>;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  await next('welcome');
  ws.send(JSON.stringify({ type: 'subscribe', id: 's', channel }));
  await next('subscribed');
  let n = 0;
  return {
    roundTrip: async () => {
      ws.send(JSON.stringify({ type: 'publish', id: `p${++n}`, channel, data: { n } }));
      await next('message');
    },
    close: () => ws.close(),
  };
}

describe('a node with blocks in runner processes', () => {
  it('keeps serving WebSockets and /healthz while a request block spins for 3 s', async () => {
    const client = await roundTripper('iso.rt');
    let spinning = true;
    const answer = spin(3000).then(async (r) => {
      spinning = false;
      return { status: r.status, body: await r.json() };
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(spinning).toBe(true);
    for (let i = 0; i < 5; i++) await client.roundTrip();
    expect((await fetch(`${node.broker.url}/healthz`)).status).toBe(200);
    expect(spinning).toBe(true);
    expect(await answer).toEqual({ status: 200, body: { spun: true } });
    client.close();
  });

  it('answers 502 RUNNER_EXITED when the runner dies mid-request, counts it, and serves the block again', async () => {
    const [proc] = node.blocks.runner.processesOf('spin');
    const pid = proc?.pid as number;
    expect(pid).not.toBe(process.pid);
    const answer = spin(3000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(pid, 'SIGKILL');
    const res = await answer;
    expect(res.status).toBe(502);
    expect(await res.text()).toContain('RUNNER_EXITED');
    const metrics = await (await fetch(`${node.broker.url}/metrics`)).text();
    expect(metrics).toMatch(/^tributary_block_runner_exits_total\{reason="crashed"\} 1$/m);
    // The next request waits for the restarted runner (within its wall time) and is answered.
    const again = await spin(0);
    expect(again.status).toBe(200);
    expect(proc?.pid).not.toBe(pid);
  });
});
