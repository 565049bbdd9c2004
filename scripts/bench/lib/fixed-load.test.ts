import { describe, expect, it } from 'vitest';
import { fixedLoad, roundDown2 } from './fixed-load.js';

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
