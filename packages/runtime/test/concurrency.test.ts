import { MemoryEngine } from '@tributary/engine';
import type { JsonValue } from '@tributary/protocol';
import { describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { compileBlock } from '../src/index.js';
import { fixture, runner } from './helpers.js';

/** A host module that holds each call for `ms` and records how many were held at once. */
function probe() {
  const seen = { now: 0, max: 0 };
  const module = {
    hold: async (args: JsonValue) => {
      seen.max = Math.max(seen.max, ++seen.now);
      await new Promise((r) => setTimeout(r, (args as { ms: number }).ms));
      seen.now--;
      return null;
    },
  };
  return { seen, module };
}

describe('block concurrency', () => {
  it('runs up to `concurrency` invocations of an after-publish block at once, each message once', async () => {
    const { seen, module } = probe();
    const engine = new MemoryEngine();
    const { runner: r } = runner({ engine, modules: { probe: module } });
    const info = await r.deploy(await compileBlock(fixture('parallel.ts')));
    expect(info.stats.coldStarts).toBe(4); // four isolates
    for (let i = 0; i < 12; i++) await engine.append({ channel: `par.c${i % 3}`, payload: JSON.stringify(i) });
    const done = await eventually(async () => {
      const d = (await engine.read('par-done', { limit: 100, after: 0 })).entries;
      return d.length >= 12 ? d : undefined;
    });
    const keys = done.map((e) => JSON.parse(e.payload) as { channel: string; offset: number }).map((p) => `${p.channel}:${p.offset}`);
    expect(new Set(keys).size).toBe(12);
    expect(done).toHaveLength(12);
    expect(seen.max).toBeGreaterThan(1);
    expect(seen.max).toBeLessThanOrEqual(4);
    await engine.close();
  });

  it('keeps its other lanes busy with newer messages while one invocation is slow', async () => {
    // The first call is held until the test lets it go; every later one answers at once. A lane
    // that finds nothing left to take reads the next messages itself, instead of waiting for the
    // batch the held message came in to finish.
    let release = (): void => {};
    const held = new Promise<void>((r) => (release = r));
    let calls = 0;
    const module = {
      hold: async () => {
        if (++calls === 1) await held;
        return null;
      },
    };
    const engine = new MemoryEngine();
    const { runner: r } = runner({ engine, modules: { probe: module } });
    await r.deploy(await compileBlock(fixture('parallel.ts')));
    const done = async (n: number) =>
      eventually(async () => {
        const d = (await engine.read('par-done', { limit: 100, after: 0 })).entries;
        return d.length >= n ? d : undefined;
      });
    await engine.append({ channel: 'par.slow', payload: '0' });
    await eventually(() => calls === 1);
    for (let i = 1; i <= 8; i++) await engine.append({ channel: `par.c${i % 3}`, payload: String(i) });
    const fast = await done(8);
    expect(fast.map((e) => (JSON.parse(e.payload) as { channel: string }).channel)).not.toContain('par.slow');
    release();
    const all = await done(9);
    expect(all.map((e) => (JSON.parse(e.payload) as { channel: string }).channel)).toContain('par.slow');
    await engine.close();
  });

  it('refuses a concurrency outside 1–16', async () => {
    const { runner: r } = runner();
    const { code } = await compileBlock(fixture('parallel.ts'));
    await expect(r.deploy({ code: code.replace('concurrency: 4', 'concurrency: 99'), version: 'x' })).rejects.toMatchObject({
      code: 'INVALID_BLOCK',
      message: expect.stringContaining('concurrency'),
    });
  });
});
