import { isSystemChannel, isValidChannel, isValidChannelOrPattern, MAX_CHANNEL_LENGTH } from '@tributary/protocol';

/** Why a name could not be mapped. */
export const MappingErrorCodes = {
  /** Not a valid MQTT topic name (or filter), or outside the bridge's topic prefix. */
  INVALID_TOPIC: 'INVALID_TOPIC',
  /** Not a valid channel (or pattern), not the encoding of a topic, or outside the channel prefix. */
  INVALID_CHANNEL: 'INVALID_CHANNEL',
} as const;
/** A {@link MappingErrorCodes} value. */
export type MappingErrorCode = (typeof MappingErrorCodes)[keyof typeof MappingErrorCodes];

/** A topic or channel the mapping refuses; `name` is the refused name. */
export class MappingError extends Error {
  override readonly name = 'MappingError';
  readonly code: MappingErrorCode;
  readonly input: string;
  constructor(code: MappingErrorCode, input: string, message: string) {
    super(message);
    this.code = code;
    this.input = input;
  }
}

/** Prefixes of the two name spaces the bridge maps onto each other. */
export interface MappingOptions {
  /**
   * Topics under this prefix (`factory/line1`) are bridged, the prefix replaced by `channelPrefix`.
   * @defaultValue `''` (every topic)
   */
  topicPrefix?: string;
  /**
   * Channels under this prefix (`mqtt`, `factory.line1`) are bridged, the prefix replaced by `topicPrefix`.
   * @defaultValue `''` (every channel)
   */
  channelPrefix?: string;
}

/** A bijection between MQTT topics under `topicPrefix` and channels under `channelPrefix`. */
export interface Mapping {
  readonly topicPrefix: string;
  readonly channelPrefix: string;
  /** `sensors/d1` → `sensors.d1`; throws {@link MappingError}. */
  topicToChannel(topic: string): string;
  /** `sensors.d1` → `sensors/d1`; throws {@link MappingError}. */
  channelToTopic(channel: string): string;
  /** `sensors/+/temp`, `sensors/#` → `sensors.*.temp`, `sensors.>`; throws {@link MappingError}. */
  filterToPattern(filter: string): string;
  /** `sensors.*.temp`, `sensors.>` → `sensors/+/temp`, `sensors/#`; throws {@link MappingError}. */
  patternToFilter(pattern: string): string;
}

// Characters of a channel segment kept as they are; every other character (and `=` itself) is
// written as `=XX` per UTF-8 byte. See README.md "Mapping".
const LITERAL = /^[A-Za-z0-9_\-:@]$/;
const MAX_TOPIC_BYTES = 65_535;
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Encodes one topic segment as a channel segment: `a.b c` → `a=2Eb=20c`; an empty segment is `=`. */
export function encodeSegment(segment: string): string {
  if (segment === '') return '=';
  let out = '';
  for (const ch of segment) {
    if (LITERAL.test(ch)) out += ch;
    else for (const b of utf8.encode(ch)) out += `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Decodes a channel segment made by {@link encodeSegment}; undefined when it is not one (a lone `=`
 * inside, lowercase hex, a byte that needs no escape, invalid UTF-8, or a character a topic segment
 * cannot hold: `/`, `+`, `#`, NUL).
 */
export function decodeSegment(segment: string): string | undefined {
  if (segment === '=') return '';
  const bytes: number[] = [];
  for (let i = 0; i < segment.length; ) {
    const ch = segment[i] as string;
    if (ch === '=') {
      const hex = segment.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else {
      bytes.push(...utf8.encode(ch));
      i += 1;
    }
  }
  let decoded: string;
  try {
    decoded = strictUtf8.decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is one of the characters refused here.
  if (/[/+#\u0000]/.test(decoded)) return undefined;
  // Canonical form only (`=41` is not `A`), so the mapping stays one-to-one.
  return encodeSegment(decoded) === segment ? decoded : undefined;
}

/** Why `topic` is not a valid MQTT topic name (or, with `filter`, topic filter); undefined when it is. */
export function topicProblem(topic: string, filter: boolean): string | undefined {
  if (topic === '') return 'empty';
  if (topic.includes('\u0000')) return 'contains NUL';
  if (utf8.encode(topic).length > MAX_TOPIC_BYTES) return `longer than ${MAX_TOPIC_BYTES} bytes`;
  const segs = topic.split('/');
  for (const [i, s] of segs.entries()) {
    if (!s.includes('+') && !s.includes('#')) continue;
    if (!filter) return 'wildcards (+ #) are not allowed in a topic name';
    if (s.length > 1) return `wildcard inside segment ${JSON.stringify(s)}`;
    if (s === '#' && i !== segs.length - 1) return '# must be the last segment';
  }
  return undefined;
}

/** Validates the prefixes and returns the mapping. Throws a `TypeError` naming the bad field. */
export function createMapping(options: MappingOptions = {}): Mapping {
  const topicPrefix = options.topicPrefix ?? '';
  const channelPrefix = options.channelPrefix ?? '';
  if (topicPrefix !== '') {
    const p = topicProblem(topicPrefix, false);
    if (p !== undefined || topicPrefix.endsWith('/'))
      throw new TypeError(`topicPrefix ${JSON.stringify(topicPrefix)}: ${p ?? 'must not end with /'}`);
  }
  if (channelPrefix !== '' && (!isValidChannel(channelPrefix) || isSystemChannel(channelPrefix))) {
    throw new TypeError(`channelPrefix ${JSON.stringify(channelPrefix)} must be a channel name (not a $ system channel)`);
  }
  const topicBad = (t: string, why: string): MappingError =>
    new MappingError(MappingErrorCodes.INVALID_TOPIC, t, `topic ${JSON.stringify(t)}: ${why}`);
  const channelBad = (c: string, why: string): MappingError =>
    new MappingError(MappingErrorCodes.INVALID_CHANNEL, c, `channel ${JSON.stringify(c)}: ${why}`);

  /** The segments of `name` after `prefix`, or undefined when `name` is not under it. */
  const under = (name: string, prefix: string, sep: string): string[] | undefined => {
    if (prefix === '') return name.split(sep);
    if (name === prefix) return [];
    return name.startsWith(prefix + sep) ? name.slice(prefix.length + 1).split(sep) : undefined;
  };
  const joinChannel = (segs: string[], name: string, err: (n: string, why: string) => MappingError): string => {
    const channel = [channelPrefix, ...segs].filter((s) => s !== '').join('.');
    if (channel === '') throw err(name, 'maps to an empty channel name');
    if (channel.length > MAX_CHANNEL_LENGTH) throw err(name, `maps to a channel longer than ${MAX_CHANNEL_LENGTH} characters`);
    return channel;
  };
  const joinTopic = (segs: string[], name: string): string => {
    const topic = [...(topicPrefix === '' ? [] : [topicPrefix]), ...segs].join('/');
    if (topic === '') throw channelBad(name, 'maps to an empty topic');
    return topic;
  };

  return {
    topicPrefix,
    channelPrefix,
    topicToChannel(topic) {
      const p = topicProblem(topic, false);
      if (p !== undefined) throw topicBad(topic, p);
      const segs = under(topic, topicPrefix, '/');
      if (segs === undefined) throw topicBad(topic, `not under the topic prefix ${JSON.stringify(topicPrefix)}`);
      const channel = joinChannel(segs.map(encodeSegment), topic, topicBad);
      if (!isValidChannel(channel)) throw topicBad(topic, `maps to an invalid channel ${JSON.stringify(channel)}`);
      return channel;
    },
    channelToTopic(channel) {
      if (!isValidChannel(channel)) throw channelBad(channel, 'not a valid channel name');
      if (isSystemChannel(channel)) throw channelBad(channel, 'system channels are not bridged');
      const segs = under(channel, channelPrefix, '.');
      if (segs === undefined) throw channelBad(channel, `not under the channel prefix ${JSON.stringify(channelPrefix)}`);
      const decoded = segs.map((s) => {
        const d = decodeSegment(s);
        if (d === undefined) throw channelBad(channel, `segment ${JSON.stringify(s)} is not an encoded topic segment`);
        return d;
      });
      return joinTopic(decoded, channel);
    },
    filterToPattern(filter) {
      const p = topicProblem(filter, true);
      if (p !== undefined) throw topicBad(filter, p);
      const segs = under(filter, topicPrefix, '/');
      if (segs === undefined) throw topicBad(filter, `not under the topic prefix ${JSON.stringify(topicPrefix)}`);
      const pattern = joinChannel(
        segs.map((s) => (s === '+' ? '*' : s === '#' ? '>' : encodeSegment(s))),
        filter,
        topicBad,
      );
      if (!isValidChannelOrPattern(pattern)) throw topicBad(filter, `maps to an invalid pattern ${JSON.stringify(pattern)}`);
      return pattern;
    },
    patternToFilter(pattern) {
      if (!isValidChannelOrPattern(pattern)) throw channelBad(pattern, 'not a valid channel or pattern');
      if (isSystemChannel(pattern)) throw channelBad(pattern, 'system channels are not bridged');
      const segs = under(pattern, channelPrefix, '.');
      if (segs === undefined) throw channelBad(pattern, `not under the channel prefix ${JSON.stringify(channelPrefix)}`);
      const decoded = segs.map((s) => {
        if (s === '*') return '+';
        if (s === '>') return '#';
        const d = decodeSegment(s);
        if (d === undefined) throw channelBad(pattern, `segment ${JSON.stringify(s)} is not an encoded topic segment`);
        return d;
      });
      return joinTopic(decoded, pattern);
    },
  };
}
