import { slotTag } from './slots.js';

/**
 * Key and pub/sub channel naming. Every key of one channel carries the channel name as its Redis
 * Cluster hash tag (`{channel}`), so the append script, which touches the stream, the meta hash and
 * the dedup key at once, always runs on one node. The prefix is validated to contain no braces, or
 * it would become the hash tag instead.
 */
export interface ChannelKeys {
  /** The stream: entry id `<offset>-0`, fields payload, time, msgId?, hops?, meta?. */
  stream: string;
  /** The meta hash: `epoch` and `last` (offset). */
  meta: string;
  /** Presence hash: clientId → `<expiresAt> <record JSON>`. */
  presence: string;
}

/** The keys of `channel`. */
export function channelKeys(prefix: string, channel: string): ChannelKeys {
  // The broker validates names; this guards the one property the key layout depends on.
  if (channel.includes('{') || channel.includes('}')) throw new TypeError(`channel ${channel} contains a brace`);
  const base = `${prefix}{${channel}}:`;
  return { stream: `${base}s`, meta: `${base}m`, presence: `${base}p` };
}

/** The dedup key of `msgId` on `channel` (same hash slot as the channel's other keys). */
export function dedupKey(prefix: string, channel: string, msgId: string): string {
  return `${prefix}{${channel}}:d:${msgId}`;
}

/** A kv key; the namespace is the hash tag, so a block's keys share a slot. */
export function kvKey(prefix: string, namespace: string, key: string): string {
  return `${prefix}kv:{${namespace}}:${key}`;
}

/** Pub/sub channel on which appends to `channel` are announced. */
export function messageTopic(prefix: string, channel: string): string {
  return `${prefix}m:${channel}`;
}

/** Pub/sub channel on which presence changes of `channel` are announced. */
export function presenceTopic(prefix: string, channel: string): string {
  return `${prefix}p:${channel}`;
}

/** The channel name in a message topic, or undefined when the topic is not one. */
export function channelOfMessageTopic(prefix: string, topic: string): string | undefined {
  const head = `${prefix}m:`;
  return topic.startsWith(head) ? topic.slice(head.length) : undefined;
}

/**
 * Sharded pub/sub topics (Redis Cluster: SPUBLISH / SSUBSCRIBE). A shard channel lives in a hash
 * slot like a key, and the append script may only SPUBLISH to the slot of the keys it touches, so
 * every topic of a channel carries the channel as its hash tag, as its keys do: the notification
 * stays on the shard that stores the channel. Topic names and key names are separate namespaces in
 * Redis; the suffixes only keep the kinds apart.
 */
export function shardMessageTopic(prefix: string, channel: string): string {
  return `${prefix}{${channel}}:n`;
}

/** The sharded topic of `channel`'s presence changes (same slot as its presence hash). */
export function shardPresenceTopic(prefix: string, channel: string): string {
  return `${prefix}{${channel}}:p`;
}

/** The pattern feed every wildcard in a pattern's first segment reads: all channels. */
export const ALL_FEED = '*';

/**
 * The pattern feed a pattern reads: its first segment when that is literal, so `sensors.>`
 * hears only channels under `sensors`, or {@link ALL_FEED} when it starts with a wildcard.
 */
export function feedOf(pattern: string): string {
  const dot = pattern.indexOf('.');
  const first = dot < 0 ? pattern : pattern.slice(0, dot);
  return first === '*' || first === '>' ? ALL_FEED : first;
}

/** The feed topic on one server: appends to channels whose first segment is `feed` (or all, {@link ALL_FEED}). */
export function serverFeedTopic(prefix: string, feed: string): string {
  return `${prefix}f:${feed}`;
}

/**
 * The feed topic of one slot: an append to a channel in slot `slot` whose first segment is `feed`
 * (and every append, on {@link ALL_FEED}) is also announced here. SSUBSCRIBE has no patterns, and
 * a topic must be in the slot of the channel it announces, so a feed is one topic per slot.
 */
export function feedTopic(prefix: string, slot: number, feed: string): string {
  return `${prefix}{${slotTag(slot)}}:f:${feed}`;
}

/** What a sharded topic announces, or undefined when it is none of ours. */
export type ShardTopic = { type: 'message'; channel: string } | { type: 'presence'; channel: string } | { type: 'feed'; feed: string };

/** Parses a topic made by {@link shardMessageTopic}, {@link shardPresenceTopic} or {@link feedTopic}. */
export function parseShardTopic(prefix: string, topic: string): ShardTopic | undefined {
  if (!topic.startsWith(`${prefix}{`)) return undefined;
  const open = prefix.length;
  const close = topic.indexOf('}', open + 1);
  if (close < 0) return undefined;
  const tag = topic.slice(open + 1, close);
  const rest = topic.slice(close + 1);
  if (rest === ':n') return { type: 'message', channel: tag };
  if (rest === ':p') return { type: 'presence', channel: tag };
  if (rest.startsWith(':f:')) return { type: 'feed', feed: rest.slice(3) };
  return undefined;
}

/** The consumer-group registry hash: group → `<generation> <patterns JSON>`. */
export function groupRegistryKey(prefix: string): string {
  return `${prefix}groups`;
}

/** Pub/sub channel on which registry changes are announced (the payload is the group name). */
export function groupRegistryTopic(prefix: string): string {
  return `${prefix}r:groups`;
}

/**
 * The set of channels on which one registration (group and generation) may exist, for discovery:
 * consumers read the group on each of them.
 */
export function groupChannelsKey(prefix: string, group: string, generation: string): string {
  return `${prefix}grp:{${group}}:${generation}:channels`;
}

/**
 * The Redis Streams consumer-group name of one registration. The generation changes when a group is
 * unregistered and registered again, so a re-registered group never inherits an old cursor, and a
 * node with a stale registry cannot revive the old one.
 */
export function streamGroupName(group: string, generation: string): string {
  return `${group}@${generation}`;
}
