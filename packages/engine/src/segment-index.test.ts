import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compilePattern } from '@tributary/protocol';
import { SegmentIndex } from './segment-index.js';

/** Every pattern in `index` matching `channel`, sorted. */
function matches(index: SegmentIndex<string>, channel: string): string[] {
  const out: string[] = [];
  index.match(channel, (p) => out.push(p));
  return out.sort();
}

// Few distinct segments, so random patterns and channels collide often enough to match; `$`, the
// wildcards as literal channel segments and empty segments probe the edges of compilePattern.
const segment = fc.constantFrom('a', 'b', 'c', '$sys', '$a', '*', '>', '');
const name = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => s.join('.'));

describe('SegmentIndex', () => {
  it('matches exactly what compilePattern matches (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(name, { maxLength: 30 }), fc.array(name, { minLength: 1, maxLength: 20 }), (patterns, channels) => {
        const index = new SegmentIndex<string>();
        for (const p of patterns) index.add(p, p);
        for (const c of channels) {
          expect(matches(index, c)).toEqual(patterns.filter((p) => compilePattern(p)(c)).sort());
        }
      }),
      { numRuns: 500 },
    );
  });

  it('forgets deleted patterns, prunes their branches, and counts distinct patterns (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), name, fc.constantFrom(1, 2)), { maxLength: 60 }), name, (ops, channel) => {
        const index = new SegmentIndex<string>();
        const model = new Map<string, Set<number>>();
        for (const [add, p, v] of ops) {
          const value = `${p}#${v}`;
          const held = model.get(p) ?? new Set();
          if (add) {
            index.add(p, value);
            held.add(v);
          } else {
            expect(index.delete(p, value)).toBe(held.delete(v));
          }
          if (held.size > 0) model.set(p, held);
          else model.delete(p);
        }
        expect(index.size).toBe(model.size);
        for (const p of model.keys()) expect(index.has(p)).toBe(true);
        const want = [...model].filter(([p]) => compilePattern(p)(channel)).flatMap(([p, vs]) => [...vs].map((v) => `${p}#${v}`));
        expect(matches(index, channel)).toEqual(want.sort());
        for (const [p, vs] of model) for (const v of vs) index.delete(p, `${p}#${v}`);
        expect(index.size).toBe(0);
        // Everything pruned: a lookup visits the root alone.
        expect(index.match(channel, () => {})).toBe(1);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps system channels away from wildcards unless the pattern starts with $', () => {
    const index = new SegmentIndex<string>();
    for (const p of ['>', '*.alert', '$dlq.*', '$dlq.>', '$dlq.alert', 'dlq.*']) index.add(p, p);
    expect(matches(index, '$dlq.alert')).toEqual(['$dlq.*', '$dlq.>', '$dlq.alert']);
    expect(matches(index, 'dlq.alert')).toEqual(['*.alert', '>', 'dlq.*']);
  });

  it('does the same work for a channel however many non-matching patterns there are', () => {
    const small = new SegmentIndex<string>();
    const large = new SegmentIndex<string>();
    const wanted = ['sensors.*', 'sensors.>', '*.t1', 'sensors.t1'];
    for (const p of wanted) {
      small.add(p, p);
      large.add(p, p);
    }
    // Ten thousand patterns that share prefixes and wildcards with the channel yet never match it.
    for (let i = 0; i < 2_500; i++) {
      for (const p of [`other${i}.*`, `*.x${i}`, `sensors.x${i}`, `sensors.*.x${i}`]) large.add(p, p);
    }
    expect(large.size).toBe(10_004);
    const seen: string[] = [];
    const work = large.match('sensors.t1', (p) => seen.push(p));
    expect(seen.sort()).toEqual([...wanted].sort());
    expect(work).toBe(small.match('sensors.t1', () => {}));
  });
});
