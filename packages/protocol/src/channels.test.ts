import { describe, expect, it } from 'vitest';
import { channelProblem, compilePattern, isPattern, isValidChannel, isValidChannelOrPattern, patternCovers } from './channels.js';

describe('channel names', () => {
  it.each(['chat', 'sensors.t1.temp', 'room-1', 'user:42', 'a@b', 'x=y', '$dlq.alert', 'A_b'])('accepts %s', (name) => {
    expect(isValidChannel(name)).toBe(true);
  });

  it.each(['', 'a..b', '.a', 'a.', 'a b', '{x}', 'a.$b', 'sensors.*', 'ä', 'a/b', 'x'.repeat(201)])('rejects %j as a name', (name) => {
    expect(isValidChannel(name)).toBe(false);
    expect(channelProblem(name, false)).toBeTypeOf('string');
  });

  it('accepts patterns only where allowed, with > only last', () => {
    expect(isValidChannelOrPattern('sensors.*.temp')).toBe(true);
    expect(isValidChannelOrPattern('sensors.>')).toBe(true);
    expect(isValidChannelOrPattern('>')).toBe(true);
    expect(isValidChannelOrPattern('sensors.>.temp')).toBe(false);
    expect(isValidChannelOrPattern('sens*')).toBe(false);
  });

  it('tells patterns from names', () => {
    expect(isPattern('a.*')).toBe(true);
    expect(isPattern('*')).toBe(true);
    expect(isPattern('a.>')).toBe(true);
    expect(isPattern('a.b')).toBe(false);
  });
});

describe('pattern matching', () => {
  const cases: Array<[string, string, boolean]> = [
    ['sensors.*', 'sensors.t1', true],
    ['sensors.*', 'sensors.t1.temp', false],
    ['sensors.*', 'sensors', false],
    ['sensors.>', 'sensors.t1', true],
    ['sensors.>', 'sensors.t1.temp', true],
    ['sensors.>', 'sensors', false],
    ['*.temp', 'a.temp', true],
    ['*.temp', 'a.hum', false],
    ['>', 'anything.at.all', true],
    ['a.*.c.>', 'a.b.c.d.e', true],
    ['a.*.c.>', 'a.b.x.d', false],
    ['chat', 'chat', true],
    ['chat', 'chat2', false],
    ['>', '$dlq.alert', false],
    ['*.alert', '$dlq.alert', false],
    ['$dlq.*', '$dlq.alert', true],
    ['$dlq.>', '$dlq.alert.x', true],
  ];
  it.each(cases)('%s ~ %s = %s', (pattern, channel, want) => {
    expect(compilePattern(pattern)(channel)).toBe(want);
  });
});

describe('patternCovers', () => {
  const cases: Array<[string, string, boolean]> = [
    ['sensors.>', 'sensors.*', true],
    ['sensors.>', 'sensors.>', true],
    ['sensors.>', 'sensors.a.b', true],
    ['sensors.>', 'sensors', false],
    ['sensors.*', 'sensors.>', false],
    ['sensors.*', 'sensors.*', true],
    ['sensors.*', 'sensors.a', true],
    ['sensors.*', 'sensors.a.b', false],
    ['>', '*.x.>', true],
    ['chat', 'chat', true],
    ['chat', 'chat.x', false],
    ['chat.*', 'chat', false],
    ['*.temp', 'a.temp', true],
    ['*.temp', '*.hum', false],
  ];
  it.each(cases)('%s covers %s = %s', (grant, requested, want) => {
    expect(patternCovers(grant, requested)).toBe(want);
  });
});
