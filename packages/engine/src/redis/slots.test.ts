import { describe, expect, it } from 'vitest';
import { ALL_FEED, feedOf, feedTopic, parseShardTopic, shardMessageTopic, shardPresenceTopic } from './keys.js';
import { crc16, SLOT_COUNT, slotOf, slotTag } from './slots.js';
import { ShardedWakeups } from './wakeups.js';

describe('hash slots', () => {
  it('computes the Cluster spec CRC16 and applies the hash tag rules', () => {
    expect(crc16('123456789')).toBe(0x31c3); // the spec's check value
    expect(slotOf('{user1000}.following')).toBe(slotOf('user1000'));
    expect(slotOf('foo{}{bar}')).toBe(crc16('foo{}{bar}') % SLOT_COUNT); // an empty tag: the whole name
    expect(slotOf('foo{}{bar}')).not.toBe(slotOf('bar'));
    expect(slotOf('foo{{bar}}zap')).toBe(slotOf('{bar'));
  });

  it('has a tag for every slot that lands in exactly that slot', () => {
    for (let s = 0; s < SLOT_COUNT; s++) expect(slotOf(`{${slotTag(s)}}`)).toBe(s);
  });

  it('puts every topic an append publishes in the slot of the channel it announces', () => {
    for (const channel of ['sensors.t1.temp', '$dlq.alerts', 'a', 'orders:eu=1']) {
      const slot = slotOf(`p:{${channel}}:s`);
      const topics = ShardedWakeups.appendTopics('p:', channel, slot);
      expect(topics.map(slotOf)).toEqual(topics.map(() => slot));
      expect(topics.map((t) => parseShardTopic('p:', t))).toEqual([
        { type: 'message', channel },
        { type: 'feed', feed: channel.split('.')[0] },
        { type: 'feed', feed: ALL_FEED },
      ]);
    }
  });

  it('maps patterns to the feed of their first segment, or to all channels', () => {
    expect(feedOf('sensors.>')).toBe('sensors');
    expect(feedOf('sensors.*.temp')).toBe('sensors');
    expect(feedOf('$dlq.*')).toBe('$dlq');
    expect(feedOf('*.temp')).toBe(ALL_FEED);
    expect(feedOf('>')).toBe(ALL_FEED);
    expect(parseShardTopic('p:', shardPresenceTopic('p:', 'a.b'))).toEqual({ type: 'presence', channel: 'a.b' });
    expect(parseShardTopic('p:', shardMessageTopic('q:', 'a.b'))).toBeUndefined();
    expect(parseShardTopic('p:', feedTopic('p:', 7, 'x'))).toEqual({ type: 'feed', feed: 'x' });
  });
});
