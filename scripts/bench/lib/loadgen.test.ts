import { describe, expect, it } from 'vitest';
import { ZERO_COUNTERS, addCounters, deal } from './loadgen.js';

describe('deal', () => {
  it('gives every thread a turn, in order, so each gets a share of every kind of connection', () => {
    expect(deal([0, 1, 2, 3, 4], 2)).toEqual([
      [0, 2, 4],
      [1, 3],
    ]);
    expect(deal(['only'], 3)).toEqual([['only'], [], []]);
  });
});

describe('addCounters', () => {
  it('sums every field and leaves its inputs alone', () => {
    const a = { ...ZERO_COUNTERS, published: 2, delivered: 200 };
    const b = { ...ZERO_COUNTERS, published: 1, delivered: 100, lost: 3, churnOps: 4 };
    expect(addCounters(a, b)).toEqual({ ...ZERO_COUNTERS, published: 3, delivered: 300, lost: 3, churnOps: 4 });
    expect(a.published).toBe(2);
    expect(ZERO_COUNTERS.published).toBe(0);
  });
});
