import { describe, expect, it } from 'vitest';
import { createMapping, decodeSegment, encodeSegment, MappingError } from './mapping.js';
import { msgIdFor, payloadToData } from './payload.js';

describe('mapping', () => {
  const plain = createMapping();

  it('maps / to . and back', () => {
    expect(plain.topicToChannel('sensors/d1/temp')).toBe('sensors.d1.temp');
    expect(plain.channelToTopic('sensors.d1.temp')).toBe('sensors/d1/temp');
  });

  it('maps wildcards: + ↔ *, # ↔ >', () => {
    expect(plain.filterToPattern('sensors/+/temp')).toBe('sensors.*.temp');
    expect(plain.filterToPattern('sensors/#')).toBe('sensors.>');
    expect(plain.filterToPattern('#')).toBe('>');
    expect(plain.patternToFilter('sensors.*.temp')).toBe('sensors/+/temp');
    expect(plain.patternToFilter('alerts.>')).toBe('alerts/#');
  });

  it('escapes characters outside the channel alphabet as =XX (UTF-8), and round-trips them', () => {
    const topics = ['a.b/c d', 'ünï/çødé', '/leading', 'trailing/', 'a//b', '$SYS/broker', 'x=y/50%', 'tab\there', '🙂'];
    for (const t of topics) {
      const c = plain.topicToChannel(t);
      expect(c, t).toMatch(/^[A-Za-z0-9_\-:@=.]+$/);
      expect(plain.channelToTopic(c), t).toBe(t);
    }
    expect(plain.topicToChannel('a.b/c d')).toBe('a=2Eb.c=20d');
    expect(plain.topicToChannel('/leading')).toBe('=.leading');
    expect(plain.topicToChannel('$SYS/broker')).toBe('=24SYS.broker'); // never a $ system channel
    expect(encodeSegment('é')).toBe('=C3=A9');
    expect(decodeSegment('=C3=A9')).toBe('é');
  });

  it('refuses channels that are not the encoding of a topic', () => {
    for (const c of ['a=4', 'a=41', 'a=c3=a9', 'a=FF', 'a=2F', 'a=2B', 'user=17=']) {
      expect(() => plain.channelToTopic(c), c).toThrow(MappingError);
    }
    expect(() => plain.channelToTopic('$dlq.x')).toThrow(/system channels/);
  });

  it('refuses invalid topics with a code', () => {
    for (const t of ['', 'a/+/b', 'a/#', 'nul\u0000', 'x'.repeat(201)]) {
      try {
        plain.topicToChannel(t);
        expect.unreachable(t);
      } catch (err) {
        expect(err).toBeInstanceOf(MappingError);
        expect((err as MappingError).code).toBe('INVALID_TOPIC');
      }
    }
    expect(() => plain.filterToPattern('a/#/b')).toThrow(/# must be the last segment/);
    expect(() => plain.filterToPattern('a/b+')).toThrow(/wildcard inside segment/);
  });

  it('swaps the prefixes and refuses names outside them', () => {
    const m = createMapping({ topicPrefix: 'factory/line1', channelPrefix: 'mqtt' });
    expect(m.topicToChannel('factory/line1/temp/3')).toBe('mqtt.temp.3');
    expect(m.channelToTopic('mqtt.temp.3')).toBe('factory/line1/temp/3');
    expect(m.filterToPattern('factory/line1/#')).toBe('mqtt.>');
    expect(m.patternToFilter('mqtt.*')).toBe('factory/line1/+');
    expect(() => m.topicToChannel('factory/line2/temp')).toThrow(/not under the topic prefix/);
    expect(() => m.channelToTopic('other.temp')).toThrow(/not under the channel prefix/);
    expect(() => createMapping({ channelPrefix: '$sys' })).toThrow(/channelPrefix/);
    expect(() => createMapping({ topicPrefix: 'a/+' })).toThrow(/topicPrefix/);
  });
});

describe('payloads and msgIds', () => {
  it('keeps JSON, wraps text and binary', () => {
    expect(payloadToData(Buffer.from('{"celsius":21.5}'))).toEqual({ celsius: 21.5 });
    expect(payloadToData(Buffer.from('42'))).toBe(42);
    expect(payloadToData(Buffer.from('hello'))).toEqual({ text: 'hello' });
    expect(payloadToData(Buffer.from([0xff, 0x00, 0x01]))).toEqual({ base64: '/wAB' });
  });

  it('derives the same msgId for a redelivery and a different one for another message', () => {
    const d = { clientId: 'b', topic: 't', payload: Buffer.from('x'), qos: 1, messageId: 7 };
    expect(msgIdFor(d)).toBe(msgIdFor({ ...d, payload: Buffer.from('x') }));
    expect(msgIdFor(d)).not.toBe(msgIdFor({ ...d, messageId: 8 }));
    expect(msgIdFor(d)).toMatch(/^mqtt:/);
    expect(msgIdFor({ ...d, publisherMsgId: 'abc' })).toBe('mqtt:p:abc');
    expect(msgIdFor({ ...d, publisherMsgId: 'x'.repeat(200) }).length).toBeLessThanOrEqual(128);
    expect(msgIdFor({ ...d, qos: 0 })).not.toBe(msgIdFor({ ...d, qos: 0 }));
  });
});
