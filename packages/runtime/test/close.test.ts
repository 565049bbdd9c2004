import { MemoryEngine } from '@tributary/engine';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { BlockNode, compileBlock } from '../src/index.js';
import { enginePublish, fixture } from './helpers.js';

// close() is what a node does on SIGTERM: it must not wait out the wall time of an invocation that
// waits on something that never comes.

const closing: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closing.length > 0) await closing.pop()?.();
});

describe('closing a runner with an invocation waiting', () => {
  it('cuts the invocation off at once (STOPPED) instead of waiting out its wall time, and leaves the message pending', async () => {
    const engine = new MemoryEngine();
    closing.push(() => engine.close());
    const n = await BlockNode.start({ engine, publish: enginePublish(engine), pollMs: 20 });
    await n.deploy(await compileBlock(fixture('hang.ts')), {});
    await engine.append({ channel: 'hang.in', payload: '{}' });
    await eventually(async () => engine.kv.get('block:hang', 'started'));
    // wallMs is 60 s, twice this test's timeout: only a cut-off lets close() return in time.
    await n.close();
    expect(n.runner.list()).toEqual([]);
    expect(await engine.groups.pending('block.hang')).toBe(1);
  });

  it('a request block invocation cut off by close fails with STOPPED', async () => {
    const engine = new MemoryEngine();
    closing.push(() => engine.close());
    const n = await BlockNode.start({ engine, publish: enginePublish(engine), pollMs: 20 });
    await n.deploy(await compileBlock(fixture('hang-request.ts')), {});
    const pending = n.runner.handleRequest('hang-request', { method: 'GET', path: '/', query: {}, headers: {}, body: undefined });
    // Its outcome is taken now: close() settles it before close() itself returns.
    const outcome = pending.then(
      () => ({ code: 'answered' }),
      (err: { code?: string }) => err,
    );
    await eventually(async () => engine.kv.get('block:hang-request', 'started'));
    await n.close();
    expect(await outcome).toMatchObject({ code: 'STOPPED' });
  });
});
