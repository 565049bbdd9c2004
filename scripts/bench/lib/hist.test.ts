import { describe, expect, it } from 'vitest';
import { median, medianInterval } from './hist.js';

describe('medianInterval', () => {
  it('takes the order statistics the binomial table gives for 95 %', () => {
    // Published ranks: n = 15 → 4th and 12th, n = 25 → 8th and 18th, n = 6 → 1st and 6th.
    const seq = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
    expect(medianInterval(seq(15))).toEqual({ low: 4, high: 12, level: 0.95 });
    expect(medianInterval(seq(25))).toEqual({ low: 8, high: 18, level: 0.95 });
    expect(medianInterval(seq(6))).toEqual({ low: 1, high: 6, level: 0.95 });
  });

  it('is undefined when there are too few runs for the level', () => {
    expect(medianInterval([1, 2, 3, 4, 5])).toBeUndefined();
    expect(medianInterval([])).toBeUndefined();
  });

  it('sorts its input and contains the median', () => {
    const xs = [0.93, 0.88, 0.91, 0.95, 0.87, 0.9, 0.92, 0.89, 0.94, 0.86, 0.91, 0.9, 0.93, 0.92, 0.89];
    const ci = medianInterval(xs);
    expect(ci?.low).toBe(0.89);
    expect(ci?.high).toBe(0.93);
    expect(median(xs)).toBeGreaterThanOrEqual(ci?.low ?? Infinity);
    expect(median(xs)).toBeLessThanOrEqual(ci?.high ?? -Infinity);
  });
});
