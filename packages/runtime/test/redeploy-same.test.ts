import { MemoryEngine } from '@tributary/engine';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { BlockNode, compileBlock } from '../src/index.js';
import { enginePublish, fixture } from './helpers.js';

// A node starting loads the blocks stored in the engine, then its block folders: usually the same
// versions. Replacing a running version with itself used to cut its invocation in flight short, so
// the message was handled once more than it had to be (runner-kill saw `starts: 3`).

const closing: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closing.length > 0) await closing.pop()?.();
});

describe('deploying the version that already runs', () => {
  it('keeps the running version and its invocation in flight', async () => {
    const engine = new MemoryEngine();
    closing.push(() => engine.close());
    const n = await BlockNode.start({ engine, publish: enginePublish(engine), pollMs: 20 });
    closing.push(() => n.close());
    const compiled = await compileBlock(fixture('hang.ts'));
    const first = await n.deploy(compiled, {});
    await engine.append({ channel: 'hang.in', payload: '{}' });
    await eventually(async () => engine.kv.get('block:hang', 'started'));
    const again = await n.deploy(compiled, {});
    expect(again.deployedAt).toBe(first.deployedAt);
    // Still the one invocation, still running: nothing was cut off and handed out again.
    await new Promise((r) => setTimeout(r, 100));
    expect(n.runner.list()[0]?.stats).toMatchObject({ invocations: 1, errors: 0 });
    expect(await engine.kv.get('block:hang', 'started')).toBe('1');
  });
});
