import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryEngine } from '@tributary/engine';
import { eventually, freePort } from '@tributary/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { compileSource } from '@tributary/runtime';
import { startNode } from '../src/node.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** True when nothing listens on 127.0.0.1:port (we could bind it ourselves). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

describe('startNode', () => {
  it('fails to start when a block folder fails to load, and releases its port', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tributary-blocks-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await mkdir(join(dir, 'broken', 'src'), { recursive: true });
    await writeFile(join(dir, 'broken', 'block.json'), '{}');
    await writeFile(join(dir, 'broken', 'src', 'index.ts'), 'export default {{;\n');
    const engine = new MemoryEngine();
    cleanups.push(() => engine.close());
    const port = await freePort();

    const err = await startNode({ engine, auth: { insecure: true }, port, blockDirs: [dir] }).then(
      (n) => {
        cleanups.push(() => n.close());
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'COMPILE_ERROR' });
    // The broker was already listening when the folder failed: a failed start must not leave it running.
    expect(await portIsFree(port)).toBe(true);
  });

  it("measures a block's publishes against the broker's maxPayloadBytes, not the runtime's default", async () => {
    const engine = new MemoryEngine();
    cleanups.push(() => engine.close());
    const node = await startNode({ engine, auth: { insecure: true }, port: 0, broker: { maxPayloadBytes: 256 * 1024 } });
    cleanups.push(() => node.close());
    // 100 KB: over the runtime's 64 KiB default, within this broker's 256 KiB.
    await node.blocks.deploy(
      await compileSource(`import { defineBlock } from '@tributary/block';
export default defineBlock({
  name: 'big',
  trigger: { afterPublish: 'big.in' },
  publishes: ['big.out'],
  async handle(_msg, ctx) {
    await ctx.publish('big.out', { pad: 'x'.repeat(100_000) });
  },
});`),
      {},
    );
    await engine.append({ channel: 'big.in', payload: '{}' });
    await eventually(async () => (await engine.state('big.out')).last !== 0, { message: 'the block output on big.out', timeoutMs: 10_000 });
    expect((await engine.state('big.out')).last).toBe(1);
    expect(node.blocks.runner.list()[0]?.stats.errors).toBe(0);
  });

  it('answers GET / with links to the console and the docs, without credentials', async () => {
    const engine = new MemoryEngine();
    cleanups.push(() => engine.close());
    const node = await startNode({ engine, auth: { secret: 'root-page-test-secret-0123456789abcdef' }, port: 0 });
    cleanups.push(() => node.close());
    const res = await fetch(`${node.broker.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    const body = (await res.json()) as { links: Record<string, string> };
    expect(body).toMatchObject({
      service: 'tributary',
      node: node.broker.nodeId,
      links: {
        console: '/console/',
        docs: expect.stringMatching(/^https:\/\/\S+/),
        websocket: '/v1/ws',
        health: '/healthz',
        ready: '/readyz',
        metrics: '/metrics',
      },
    });
    // The console link leads to the console.
    const page = await fetch(new URL(body.links.console as string, node.broker.url));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    // Only / itself: other unknown paths stay 404.
    const other = await fetch(`${node.broker.url}/nope`);
    expect(other.status).toBe(404);
    expect(((await other.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('serves Node process metrics on /metrics, for every node of a process without a duplicate', async () => {
    const pages: string[] = [];
    // Several nodes in one process (as tests run them): each page has the process metrics, once.
    for (let i = 0; i < 3; i++) {
      const engine = new MemoryEngine();
      cleanups.push(() => engine.close());
      const node = await startNode({ engine, auth: { insecure: true }, port: 0 });
      cleanups.push(() => node.close());
      const res = await fetch(`${node.broker.url}/metrics`);
      expect(res.status).toBe(200);
      pages.push(await res.text());
    }
    for (const page of pages) {
      for (const name of [
        'process_cpu_seconds_total',
        'process_resident_memory_bytes',
        'nodejs_heap_size_used_bytes',
        'nodejs_eventloop_lag_seconds',
        'nodejs_gc_duration_seconds',
        'nodejs_version_info',
      ]) {
        expect(page.match(new RegExp(`^# TYPE ${name} `, 'gm')), name).toHaveLength(1);
      }
      // The node's own metrics are still there.
      expect(page).toMatch(/^# TYPE tributary_connections gauge$/m);
    }
  });
});
