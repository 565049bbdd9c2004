import { describe, expect, it } from 'vitest';
import { deployFixture, runner } from './helpers.js';

/**
 * `runners.busyPollUs` keeps the node and its runners polling instead of sleeping between messages
 * (lower latency through the process boundary). Polling must not cost correctness or starve the
 * node: invocations answer as before, and the node's own timers keep firing while it polls.
 */
describe('busy polling between node and runner', () => {
  it('answers invocations as without it, and the node keeps running its timers meanwhile', async () => {
    const { runner: r } = runner({ runners: { size: 1, busyPollUs: 10_000 } });
    await deployFixture(r, 'stamp.ts');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      for (let i = 0; i < 200; i++) {
        const out = await r.interceptor.intercept({ channel: 'stamped.x', data: { n: i } });
        expect(out).toEqual({ data: { stamped: true, original: { n: i } } });
      }
    } finally {
      clearInterval(timer);
    }
    // 200 round trips each leave the node polling for 10 ms: its 1 ms timer fired throughout.
    expect(ticks).toBeGreaterThan(0);
  });
});
