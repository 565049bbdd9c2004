import { describe, expect, it } from 'vitest';
import { RateWindow } from './rates.js';

describe('RateWindow', () => {
  it('counts what happened in the window, over the whole window', () => {
    const r = new RateWindow(10_000);
    r.start('k', 0);
    // A burst of 5 right after the start reads 0.5/s, as the console's channel table counts it.
    expect(r.rate('k', 5)).toBe(0.5);
    for (let t = 1000; t <= 10_000; t += 1000) r.sample(t, new Map([['k', 5]]));
    expect(r.rate('k', 5)).toBe(0.5);
    // Once the burst is older than the window, it no longer counts.
    r.sample(11_000, new Map([['k', 5]]));
    expect(r.rate('k', 5)).toBe(0);
    expect(r.rate('k', 25)).toBe(2);
  });

  it('restarts a counter that went down, and forgets keys no longer kept', () => {
    const r = new RateWindow(10_000);
    r.sample(0, new Map([['k', 100]]));
    expect(r.rate('k', 3)).toBe(0.3);
    r.retain(() => false);
    expect(r.rate('k', 3)).toBe(0);
  });
});
