import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

const opts = { minDelayMs: 100, maxDelayMs: 1000, factor: 2 };

describe('backoffDelay', () => {
  it('draws from [0, min(max, min × factor^attempt)] (full jitter)', () => {
    expect(backoffDelay(0, opts, () => 0)).toBe(0);
    expect(backoffDelay(0, opts, () => 0.999)).toBe(99);
    expect(backoffDelay(2, opts, () => 0.5)).toBe(200);
    expect(backoffDelay(3, opts, () => 0.999)).toBe(799);
    expect(backoffDelay(4, opts, () => 0.999)).toBe(999);
  });

  it('stays bounded on a very long outage', () => {
    expect(backoffDelay(10_000, opts, () => 0.999)).toBe(999);
    expect(backoffDelay(10_000, { minDelayMs: 1, maxDelayMs: 5, factor: 10 }, () => 0.5)).toBe(2);
  });
});
