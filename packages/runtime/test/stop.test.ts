// A removed or closed block never runs again: not after a retry backoff, not for a request that
// was waiting for a lane (docs/BLOCKS.md: delete stops a block at once).
import { MemoryEngine } from '@tributary/engine';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { BlockNode, compileSource } from '../src/index.js';
import { enginePublish } from './helpers.js';

const closing: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closing.length > 0) await closing.pop()?.();
});

const FAILS_ONCE = `import { defineBlock } from '@tributary/block';
export default defineBlock({
  name: 'failonce',
  trigger: { afterPublish: 'f.in' },
  async handle(msg, ctx) {
    const n = await ctx.kv.incr('runs');
    if (n === 1) throw new Error('first attempt fails');
  },
});`;

describe('a removed/closed block must not run again', () => {
  it('remove() during a retry backoff: the handler does not run again afterwards', async () => {
    const engine = new MemoryEngine();
    closing.push(() => engine.close());
    const n = await BlockNode.start({ engine, publish: enginePublish(engine), pollMs: 20, retry: { baseMs: 5000, maxMs: 5000 } });
    closing.push(() => n.close());
    await n.deploy(await compileSource(FAILS_ONCE), {});
    await engine.append({ channel: 'f.in', payload: '{}' });
    await eventually(async () => (await engine.kv.get('block:failonce', 'runs')) === '1');
    await new Promise((r) => setTimeout(r, 50)); // now in backoff
    await n.remove('failonce');
    await new Promise((r) => setTimeout(r, 500));
    expect(await engine.kv.get('block:failonce', 'runs')).toBe('1');
  });

  it('close() during a retry backoff: the handler does not run again afterwards', async () => {
    const engine = new MemoryEngine();
    closing.push(() => engine.close());
    const n = await BlockNode.start({ engine, publish: enginePublish(engine), pollMs: 20, retry: { baseMs: 5000, maxMs: 5000 } });
    await n.deploy(await compileSource(FAILS_ONCE), {});
    await engine.append({ channel: 'f.in', payload: '{}' });
    await eventually(async () => (await engine.kv.get('block:failonce', 'runs')) === '1');
    await new Promise((r) => setTimeout(r, 50));
    await n.close();
    await new Promise((r) => setTimeout(r, 500));
    expect(await engine.kv.get('block:failonce', 'runs')).toBe('1');
    expect(await engine.groups.pending('block.failonce')).toBe(1);
  });
});

const HANG_REQ = `import { defineBlock } from '@tributary/block';
export default defineBlock({
  name: 'hangreq',
  trigger: { request: true },
  limits: { wallMs: 60000 },
  async handle(req, ctx) {
    const n = await ctx.kv.incr('runs');
    if (n === 1) await new Promise(() => {});
    return { body: { ran: n } };
  },
});`;

describe('requests queued for a lane when the block is removed', () => {
  it('a request waiting for a busy lane does not run the removed block in a new isolate', async () => {
    const engine = new MemoryEngine();
    closing.push(() => engine.close());
    const n = await BlockNode.start({ engine, publish: enginePublish(engine), pollMs: 20 });
    closing.push(() => n.close());
    await n.deploy(await compileSource(HANG_REQ), {});
    const req = { method: 'GET', path: '/', query: {}, headers: {}, body: undefined };
    const first = n.runner.handleRequest('hangreq', req).catch((e: unknown) => e);
    await eventually(async () => (await engine.kv.get('block:hangreq', 'runs')) === '1');
    const second = n.runner.handleRequest('hangreq', req).then(
      (x) => x,
      (e: unknown) => e,
    );
    await n.remove('hangreq');
    const [, b] = await Promise.all([first, second]);
    // The queued request got STOPPED; it did not run the removed block in a new isolate.
    expect(b).toMatchObject({ code: 'STOPPED' });
    expect(await engine.kv.get('block:hangreq', 'runs')).toBe('1');
  });
});
