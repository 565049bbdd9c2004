import { MemoryEngine } from '@tributary/engine';
import { describe, expect, it } from 'vitest';
import { OverlayKv } from '../src/overlay-kv.js';

/** A replayed version's kv: reads through to the deployed block's, writes kept apart (docs/BLOCKS.md, Replay). */
describe('the replay kv overlay', () => {
  it('counts like the engine does, from the deployed value, without changing it', async () => {
    const engine = new MemoryEngine();
    await engine.kv.set('block:b', 'n', '41');
    const kv = new OverlayKv(engine.kv);
    expect(await kv.incr('block:b', 'n', 1)).toBe(42);
    expect(await engine.kv.get('block:b', 'n')).toBe('41');
    await engine.close();
  });

  it('refuses to count a value that is not an integer, as the engines do, instead of storing NaN', async () => {
    const engine = new MemoryEngine();
    await engine.kv.set('block:b', 'word', 'hello');
    const kv = new OverlayKv(engine.kv);
    await expect(engine.kv.incr('block:b', 'word', 1)).rejects.toThrow(/does not hold an integer/);
    await expect(kv.incr('block:b', 'word', 1)).rejects.toThrow(/does not hold an integer/);
    expect(await kv.get('block:b', 'word')).toBe('hello');
    await engine.close();
  });
});
