import { describe, expect, it } from 'vitest';
import { Histogram } from './hist.js';
import { addCommands, commandDelta, commandsPer, parseCommandStats } from './redis-stats.js';

const INFO_A = [
  '# Commandstats',
  'cmdstat_xadd:calls=10,usec=50,usec_per_call=5.00,rejected_calls=0,failed_calls=0',
  'cmdstat_info:calls=3,usec=90,usec_per_call=30.00,rejected_calls=0,failed_calls=0',
  '',
].join('\r\n');
const INFO_B = [
  '# Commandstats',
  'cmdstat_xadd:calls=30,usec=150,usec_per_call=5.00,rejected_calls=0,failed_calls=0',
  'cmdstat_evalsha:calls=5,usec=100,usec_per_call=20.00,rejected_calls=0,failed_calls=0',
  'cmdstat_info:calls=4,usec=120,usec_per_call=30.00,rejected_calls=0,failed_calls=0',
  'cmdstat_ping:calls=7,usec=7,usec_per_call=1.00,rejected_calls=0,failed_calls=0',
].join('\r\n');

describe('commandstats', () => {
  it('parses calls per command and ignores other lines', () => {
    expect(parseCommandStats(INFO_A)).toEqual({ xadd: 10, info: 3 });
  });

  it('subtracts, leaving out INFO itself and commands that were not called in between', () => {
    const after = parseCommandStats(INFO_B);
    expect(commandDelta(parseCommandStats(INFO_A), after)).toEqual({ xadd: 20, evalsha: 5, ping: 7 });
    expect(commandDelta(after, after)).toEqual({});
  });

  it('sums windows and divides by messages, largest first', () => {
    const sum = addCommands({ xadd: 20, evalsha: 5 }, { xadd: 10, publish: 1 });
    expect(sum).toEqual({ xadd: 30, evalsha: 5, publish: 1 });
    const per = commandsPer(sum, 10, 2);
    expect(per.total).toBeCloseTo(3.6);
    expect(per.top).toEqual([
      ['xadd', 3],
      ['evalsha', 0.5],
    ]);
  });
});

describe('Histogram export and merge', () => {
  it('gives the same percentiles as recording every sample in one histogram', () => {
    const one = new Histogram();
    const a = new Histogram();
    const b = new Histogram();
    for (let i = 1; i <= 1000; i++) {
      one.record(i * 7);
      (i % 3 === 0 ? a : b).record(i * 7);
    }
    const merged = new Histogram();
    merged.merge(structuredClone(a.export()));
    merged.merge(structuredClone(b.export()));
    expect(merged.count).toBe(one.count);
    expect(merged.max).toBe(one.max);
    expect(merged.mean).toBeCloseTo(one.mean);
    for (const p of [0.5, 0.9, 0.99]) expect(merged.percentile(p)).toBe(one.percentile(p));
  });

  it('exports only non-empty buckets', () => {
    const h = new Histogram();
    h.record(10);
    h.record(10);
    expect(h.export().buckets).toHaveLength(1);
    expect(new Histogram().export()).toEqual({ buckets: [], count: 0, max: 0, sum: 0 });
  });
});
