import { describe, expect, it } from 'vitest';
import { ChannelStats, RATE_WINDOW_SECONDS } from './channel-stats.js';

describe('ChannelStats', () => {
  it('averages the last 10 s and lets old seconds fall out of the window', () => {
    let now = 1_000_000;
    const s = new ChannelStats(10, () => now);
    for (let i = 1; i <= 20; i++) s.record('a', i, 'e1', now);
    expect(s.get('a')).toMatchObject({ ratePerSec: 20 / RATE_WINDOW_SECONDS, published: 20, lastOffset: 20, epoch: 'e1' });
    now += 5_000;
    s.record('a', 21, 'e1', now);
    expect(s.get('a')?.ratePerSec).toBe(21 / RATE_WINDOW_SECONDS);
    now += RATE_WINDOW_SECONDS * 1000;
    expect(s.get('a')?.ratePerSec).toBe(0);
    expect(s.get('a')?.lastOffset).toBe(21);
  });

  it('remembers at most `max` channels, forgetting the least recently published', () => {
    const s = new ChannelStats(3, () => 0);
    for (const c of ['a', 'b', 'c']) s.record(c, 1, 'e', 0);
    s.record('a', 2, 'e', 0);
    s.record('d', 1, 'e', 0);
    expect(s.size).toBe(3);
    expect(s.get('b')).toBeUndefined();
    expect(s.list().map((x) => x.channel)).toEqual(['d', 'a', 'c']);
  });

  it('refuses a bad bound', () => {
    expect(() => new ChannelStats(0)).toThrow(/max/);
  });
});
