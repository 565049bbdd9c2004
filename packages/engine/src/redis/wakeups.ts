import { splitChannelLine } from './codec.js';
import {
  ALL_FEED,
  feedOf,
  feedTopic,
  messageTopic,
  parseShardTopic,
  presenceTopic,
  serverFeedTopic,
  shardMessageTopic,
  shardPresenceTopic,
} from './keys.js';
import type { PubSub } from './pubsub.js';
import type { ShardedPubSub } from './sharded.js';
import { SLOT_COUNT } from './slots.js';

/**
 * How long a Cluster pattern feed stays subscribed after its last pattern closed: subscribing one
 * costs 16,384 SSUBSCRIBEs, so a client that unsubscribes and subscribes again (a page reload)
 * finds it still there. Meanwhile its messages reach the node and match no pattern.
 */
export const FEED_LINGER_MS = 30_000;

/**
 * Feeds of distinct first segments one Cluster engine holds at most. Each costs 16,384 shard
 * subscriptions (about 4.4 MB of Redis memory per node, measured); past the bound a pattern reads
 * the all-channels feed instead, which delivers the same entries and more, so a client following
 * `a1.>`, `a2.>`, … cannot make a node subscribe without bound.
 */
export const MAX_FEEDS = 16;

/** A Cluster pattern feed held by this node. */
interface Feed {
  /** Patterns reading it. */
  holders: number;
  /** Settles once its topics are subscribed. */
  ready: Promise<void>;
  /** Set while no pattern reads it (see {@link FEED_LINGER_MS}). */
  linger: NodeJS.Timeout | undefined;
}

/** What a node can be woken up by: appends to a channel, its presence changes, or a pattern source. */
export type WakeupKind = 'channel' | 'presence' | 'pattern';

/**
 * How follows hear of appends and presence changes — the one difference between the engine on one
 * server (classic PUBLISH, one topic per feed) and on a Cluster (sharded SPUBLISH, a feed topic per slot).
 * Follows hold each name once, however many listeners share it.
 */
export interface Wakeups {
  /**
   * The source through which the notifications of channels matching `pattern` arrive: several
   * patterns may share one, and a channel may arrive through several (once per source).
   */
  sourceOf(pattern: string): string;
  /** Subscribes to `name` (a channel, or a pattern source); resolves once Redis confirmed it. */
  acquire(kind: WakeupKind, name: string): Promise<void>;
  /** Drops what {@link acquire} took. */
  release(kind: WakeupKind, name: string): void;
}

/** Where the notifications go (the engine's {@link Follows}). */
export interface WakeupSink {
  /** An append notification (`<JSON header>\n<payload>`) of `channel`. */
  onEntry(channel: string, raw: string): void;
  /** An append notification of `channel` that arrived through the pattern source `source`. */
  onPatternEntry(source: string, channel: string, raw: string): void;
  /** A presence change (JSON) of `channel`. */
  onPresence(channel: string, raw: string): void;
}

/**
 * One server: PUBLISH to `<prefix>m:<channel>`, SUBSCRIBE per followed channel. Patterns read a feed,
 * as on a Cluster but one topic each: every append is also published to `<prefix>f:<first segment>`
 * and `<prefix>f:*`, and a pattern SUBSCRIBEs its first segment's feed (the all-channels one when it
 * starts with a wildcard); the node matches each arriving channel against its patterns with the
 * segment index. Redis then does no glob matching: with PSUBSCRIBE, every PUBLISH was tested against
 * every distinct pattern any node held (thousands of idle device patterns made that most of an
 * append's cost). The price moves to the nodes that hold a pattern: they receive every append of
 * its feed once, whatever the pattern's later segments.
 */
export class ClassicWakeups implements Wakeups {
  readonly #prefix: string;
  readonly #pubsub: PubSub;
  readonly #sink: () => WakeupSink;
  /** The topic heads {@link message} tells apart, built once rather than per notification. */
  readonly #channels: string;
  readonly #feeds: string;
  readonly #presence: string;

  constructor(prefix: string, pubsub: PubSub, sink: () => WakeupSink) {
    this.#prefix = prefix;
    this.#pubsub = pubsub;
    this.#sink = sink;
    this.#channels = messageTopic(prefix, '');
    this.#feeds = serverFeedTopic(prefix, '');
    this.#presence = presenceTopic(prefix, '');
  }

  sourceOf(pattern: string): string {
    return feedOf(pattern);
  }

  acquire(kind: WakeupKind, name: string): Promise<void> {
    return this.#pubsub.acquire(this.#topic(kind, name));
  }

  release(kind: WakeupKind, name: string): void {
    this.#pubsub.release(this.#topic(kind, name));
  }

  /** A message on a SUBSCRIBEd topic: a channel's, a feed's (`<channel>\n<notification>`) or presence. */
  message(topic: string, raw: string): void {
    if (topic.startsWith(this.#channels)) {
      this.#sink().onEntry(topic.slice(this.#channels.length), raw);
      return;
    }
    const feeds = this.#feeds;
    if (topic.startsWith(feeds)) {
      const split = splitChannelLine(raw);
      if (split !== undefined) this.#sink().onPatternEntry(topic.slice(feeds.length), split[0], split[1]);
      return;
    }
    const head = this.#presence;
    if (topic.startsWith(head)) this.#sink().onPresence(topic.slice(head.length), raw);
  }

  /** The topics an append to `channel` is announced on: its own, then its two feeds. */
  static appendTopics(prefix: string, channel: string): string[] {
    return [messageTopic(prefix, channel), serverFeedTopic(prefix, feedOf(channel)), serverFeedTopic(prefix, ALL_FEED)];
  }

  #topic(kind: WakeupKind, name: string): string {
    if (kind === 'pattern') return serverFeedTopic(this.#prefix, name);
    return kind === 'channel' ? messageTopic(this.#prefix, name) : presenceTopic(this.#prefix, name);
  }
}

/**
 * A Redis Cluster: sharded pub/sub, so an append's notification stays on the shard that stores the
 * channel instead of being broadcast over the cluster bus to every node (classic PUBLISH), and the
 * notification traffic per shard falls as shards are added.
 *
 * SSUBSCRIBE has no patterns. A pattern reads a feed instead — its first segment when literal
 * (`sensors.>` → `sensors`), else the feed of all channels — and a feed is one topic per slot
 * (16,384), since the append script may only SPUBLISH within its channel's slot. Each append
 * SPUBLISHes three times, all on its shard: the channel's topic, its first segment's feed and the
 * all-channels feed (a publish to a topic nobody holds costs Redis a lookup). The first pattern of a
 * feed on a node SSUBSCRIBEs the feed's 16,384 topics, spread over the masters; further patterns of
 * that feed share them, and it lingers {@link FEED_LINGER_MS} after the last one; at most
 * {@link MAX_FEEDS} first-segment feeds are held. The node then receives every append of the feed's
 * channels once and matches it against its patterns with the segment index.
 */
export class ShardedWakeups implements Wakeups {
  readonly #prefix: string;
  readonly #pubsub: ShardedPubSub;
  readonly #sink: () => WakeupSink;
  readonly #feeds = new Map<string, Feed>();
  readonly #lingerMs: number;
  readonly #maxFeeds: number;

  constructor(prefix: string, pubsub: ShardedPubSub, sink: () => WakeupSink, limits: { lingerMs?: number; maxFeeds?: number } = {}) {
    this.#prefix = prefix;
    this.#pubsub = pubsub;
    this.#sink = sink;
    this.#lingerMs = limits.lingerMs ?? FEED_LINGER_MS;
    this.#maxFeeds = limits.maxFeeds ?? MAX_FEEDS;
  }

  sourceOf(pattern: string): string {
    const feed = feedOf(pattern);
    if (feed === ALL_FEED || this.#feeds.has(feed)) return feed;
    const held = [...this.#feeds.keys()].filter((f) => f !== ALL_FEED).length;
    return held < this.#maxFeeds ? feed : ALL_FEED;
  }

  acquire(kind: WakeupKind, name: string): Promise<void> {
    if (kind !== 'pattern') return this.#pubsub.acquire([this.#topic(kind, name)]);
    let feed = this.#feeds.get(name);
    clearTimeout(feed?.linger);
    if (feed === undefined) {
      const f: Feed = { holders: 0, ready: this.#pubsub.acquire(this.#feedTopics(name)), linger: undefined };
      // A failed subscription is forgotten, so the next pattern of the feed tries again.
      f.ready.catch(() => this.#feeds.get(name) === f && this.#feeds.delete(name));
      this.#feeds.set(name, (feed = f));
    }
    feed.holders++;
    const f = feed;
    return f.ready.catch((err: unknown) => {
      f.holders--;
      throw err;
    });
  }

  release(kind: WakeupKind, name: string): void {
    if (kind !== 'pattern') {
      this.#pubsub.release([this.#topic(kind, name)]);
      return;
    }
    const feed = this.#feeds.get(name);
    if (feed === undefined || --feed.holders > 0) return;
    feed.linger = setTimeout(() => {
      if (this.#feeds.get(name) !== feed || feed.holders > 0) return;
      this.#feeds.delete(name);
      this.#pubsub.release(this.#feedTopics(name));
    }, this.#lingerMs);
    feed.linger.unref();
  }

  /** Closes the shard connections (the engine is closing). */
  close(): void {
    for (const f of this.#feeds.values()) clearTimeout(f.linger);
    this.#feeds.clear();
    this.#pubsub.close();
  }

  /** A message on an SSUBSCRIBEd topic: `<channel>\n<notification>`. */
  message(topic: string, raw: string): void {
    const t = parseShardTopic(this.#prefix, topic);
    if (t === undefined) return;
    if (t.type === 'presence') {
      this.#sink().onPresence(t.channel, raw);
      return;
    }
    const split = splitChannelLine(raw);
    if (split === undefined) return;
    const [channel, rest] = split;
    if (t.type === 'message') {
      if (channel === t.channel) this.#sink().onEntry(channel, rest);
    } else {
      this.#sink().onPatternEntry(t.feed, channel, rest);
    }
  }

  /** The topics an append to `channel` is announced on (see the class comment), in its slot. */
  static appendTopics(prefix: string, channel: string, slot: number): string[] {
    return [shardMessageTopic(prefix, channel), feedTopic(prefix, slot, feedOf(channel)), feedTopic(prefix, slot, ALL_FEED)];
  }

  #topic(kind: 'channel' | 'presence', channel: string): string {
    return kind === 'channel' ? shardMessageTopic(this.#prefix, channel) : shardPresenceTopic(this.#prefix, channel);
  }

  #feedTopics(feed: string): string[] {
    return Array.from({ length: SLOT_COUNT }, (_, slot) => feedTopic(this.#prefix, slot, feed));
  }
}
