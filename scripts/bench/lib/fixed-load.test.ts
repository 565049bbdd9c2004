import { describe, expect, it } from 'vitest';
import { dueMessages, fixedLoad, roundDown2 } from './fixed-load.js';

describe('fixedLoad', () => {
  it('keeps the target when every system reaches twice it', () => {
    expect(fixedLoad(100, [50_000, 90_000])).toEqual({ msgsPerSec: 200, deliveriesPerSec: 20_000, note: '' });
  });

  it('lowers to half the slowest saturation, rounded down to two digits, and says so', () => {
    const r = fixedLoad(1, [8_035, 4_420]);
    expect(r.deliveriesPerSec).toBe(2_200);
    expect(r.msgsPerSec).toBe(2_200);
    expect(r.note).toContain('4,420');
  });

  it('divides by the measured deliveries per message, not the nominal fan-out', () => {
    expect(fixedLoad(64, [200_000]).msgsPerSec).toBeCloseTo(20_000 / 64);
  });

  it('never goes below one message per second and survives no data', () => {
    expect(fixedLoad(4, [1]).msgsPerSec).toBe(1);
    expect(fixedLoad(Number.NaN, []).deliveriesPerSec).toBe(20_000);
  });
});

describe('roundDown2', () => {
  it('keeps two significant digits', () => {
    expect(roundDown2(19_415)).toBe(19_000);
    expect(roundDown2(3_106)).toBe(3_100);
    expect(roundDown2(7)).toBe(7);
    expect(roundDown2(0)).toBe(0);
  });
});

describe('dueMessages', () => {
  it('keeps each publisher at the rate: after 10 s at 75/s, 750 or 751 sent', () => {
    for (let key = 0; key < 100; key++) expect(dueMessages(10, 75, key) - 750).toBeGreaterThanOrEqual(0);
    for (let key = 0; key < 100; key++) expect(dueMessages(10, 75, key)).toBeLessThanOrEqual(751);
  });

  it('does not make every publisher due at the same instant', () => {
    // 100 publishers at 75/s: the first message of each, in 1 ms steps over one period (13.3 ms).
    const firstAt = (key: number): number => {
      for (let ms = 0; ms <= 14; ms++) if (dueMessages(ms / 1000, 75, key) >= 1) return ms;
      return Number.NaN;
    };
    const perMs = new Map<number, number>();
    for (let key = 0; key < 100; key++) perMs.set(firstAt(key), (perMs.get(firstAt(key)) ?? 0) + 1);
    expect(perMs.has(Number.NaN)).toBe(false);
    // Spread over the period: no millisecond holds more than a few of them (all 100 did before).
    expect(Math.max(...perMs.values())).toBeLessThanOrEqual(10);
    expect(perMs.size).toBeGreaterThanOrEqual(12);
  });
});
