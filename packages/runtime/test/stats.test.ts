import { describe, expect, it } from 'vitest';
import { deployFixture, requestBody, runner } from './helpers.js';

/**
 * What `GET /v1/admin/blocks` and the console show of a block's invocations (docs/PROTOCOL.md,
 * docs/OPERATIONS.md): counts and the p99 duration over its recent invocations. The durations are
 * set by the block itself (it spins for as long as asked), so the assertions are lower bounds the
 * block guarantees, never a speed.
 */
describe("a block's invocation stats", () => {
  it('report the p99 of the recent invocations, and follow new ones', async () => {
    const { runner: r } = runner();
    await deployFixture(r, 'hostile/spin.ts');
    const stats = () => r.list().find((b) => b.name === 'hostile-spin')?.stats;
    for (let i = 0; i < 95; i++) await requestBody(r, 'hostile-spin', { ms: 0 });
    const before = stats();
    expect(before?.invocations).toBe(95);
    // Asked again without new invocations: the same answer.
    expect(stats()?.p99Ms).toBe(before?.p99Ms);
    // 5 of 100 took at least 200 ms: the 99th percentile is one of them.
    for (let i = 0; i < 5; i++) await requestBody(r, 'hostile-spin', { ms: 200 });
    const after = stats();
    expect(after?.invocations).toBe(100);
    expect(after?.p99Ms).toBeGreaterThanOrEqual(200);
    expect(after?.p99Ms).toBeGreaterThan(before?.p99Ms ?? Number.POSITIVE_INFINITY);
  });
});
