import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { eventually, startRedisCluster, type RedisCluster } from '@tributary/testkit';
import { RedisEngine, resolveRedisEngineOptions, type RedisEngineOptions } from '../src/redis/index.js';
import { ALL_FEED, channelKeys } from '../src/redis/keys.js';
import { ShardedPubSub, clusterSlotOwners } from '../src/redis/sharded.js';
import { SLOT_COUNT, slotOf } from '../src/redis/slots.js';
import { ShardedWakeups } from '../src/redis/wakeups.js';
import { collector, range, uniqueChannel } from './helpers.js';

// Sharded pub/sub on the testkit's 3-master Cluster, measured with each master's own counters:
// INFO commandstats (SPUBLISH/PUBLISH calls, including those made by scripts), CLUSTER INFO
// (messages received over the cluster bus: what a classic PUBLISH costs every other shard) and
// INFO stats (shard channels with subscribers).

const keyPrefix = `t${Math.random().toString(36).slice(2, 8)}:`;
let cluster: RedisCluster;
let raw: Cluster;
let masters: Redis[];
const engines: RedisEngine[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  raw = new Cluster(cluster.nodes);
  await raw.ping();
  masters = cluster.nodes.map((n) => new Redis(n));
});
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  raw?.disconnect();
  for (const m of masters ?? []) m.disconnect();
  await cluster?.stop();
});

function engine(options: RedisEngineOptions = {}): RedisEngine {
  const e = new RedisEngine({ cluster: { nodes: cluster.nodes }, keyPrefix, ...options });
  engines.push(e);
  return e;
}

interface Counters {
  spublish: number;
  publish: number;
  /** Classic PUBLISH messages this node received over the cluster bus from another node. */
  busPublish: number;
  /** Sharded messages received over the cluster bus (only a shard's replicas get them). */
  busShard: number;
  /** Shard channels with at least one subscriber on this node. */
  shardChannels: number;
}

async function counters(m: Redis): Promise<Counters> {
  const [cmd, bus, stats] = await Promise.all([m.info('commandstats'), m.call('CLUSTER', 'INFO') as Promise<string>, m.info('stats')]);
  const n = (text: string, re: RegExp): number => Number(re.exec(text)?.[1] ?? 0);
  return {
    spublish: n(cmd, /cmdstat_spublish:calls=(\d+)/),
    publish: n(cmd, /cmdstat_publish:calls=(\d+)/),
    busPublish: n(bus, /cluster_stats_messages_publish_received:(\d+)/),
    busShard: n(bus, /cluster_stats_messages_publishshard_received:(\d+)/),
    shardChannels: n(stats, /pubsubshard_channels:(\d+)/),
  };
}

const all = (): Promise<Counters[]> => Promise.all(masters.map(counters));

/** The index in `masters` of the master serving `slot`. */
async function ownerOf(slot: number): Promise<number> {
  const ranges = (await raw.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, string]]>;
  const port = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2][1];
  const i = cluster.nodes.findIndex((n) => n.port === port);
  if (i < 0) throw new Error(`no master serves slot ${slot}`);
  return i;
}

const slotOfChannel = (ch: string): number => slotOf(channelKeys(keyPrefix, ch).stream);

describe('sharded pub/sub on a 3-master Cluster', () => {
  it('computes the slot of a name as Redis does', async () => {
    for (const name of ['a', 'sensors.t1.temp', '$dlq.x', 'x{abc}:s', 'foo{}{bar}', 'caf\u00e9', `${keyPrefix}{orders.eu}:n`]) {
      expect(slotOf(name)).toBe(await raw.cluster('KEYSLOT', name));
    }
  });

  it("sends an append's notifications only to the shard that stores the channel", async () => {
    const subscriber = engine();
    const publisher = engine();
    const root = uniqueChannel('only');
    const ch = `${root}.x`;
    const c = collector();
    const p = collector();
    const f = await subscriber.follow(ch, c.listener);
    const fp = await subscriber.followPattern(`${root}.>`, p.listener);
    const owner = await ownerOf(slotOfChannel(ch));
    const perAppend = ShardedWakeups.appendTopics(keyPrefix, ch, slotOfChannel(ch)).length;

    const before = await all();
    const n = 20;
    for (let i = 1; i <= n; i++) await publisher.append({ channel: ch, payload: String(i) });
    await c.waitFor(n);
    await p.waitFor(n);
    const after = await all();

    expect(c.offsets()).toEqual(range(1, n));
    expect(p.entries.map((e) => e.offset)).toEqual(range(1, n));
    after.forEach((a, i) => {
      const b = before[i] as Counters;
      // The owner SPUBLISHed each append to the channel's topic and its two feeds; nobody else did anything.
      expect(a.spublish - b.spublish, `SPUBLISH calls on master ${i}`).toBe(i === owner ? n * perAppend : 0);
      expect(a.publish - b.publish, `PUBLISH calls on master ${i}`).toBe(0);
      expect(a.busPublish - b.busPublish, `bus PUBLISH received by master ${i}`).toBe(0);
      expect(a.busShard - b.busShard, `bus sharded messages received by master ${i}`).toBe(0);
    });

    // Control: the same counters do see a classic PUBLISH reach every other master over the bus.
    await raw.publish(`${keyPrefix}control`, 'x');
    await eventually(async () => {
      const now = await all();
      return now.filter((x, i) => x.busPublish > (after[i] as Counters).busPublish).length === masters.length - 1;
    });
    await f.close();
    await fp.close();
  });

  it('holds a pattern feed as one shard channel per slot, spread over the masters, shared by the patterns of a feed', async () => {
    const e = engine();
    const root = uniqueChannel('feed');
    const before = await all();
    const one = await e.followPattern(`${root}.*`, () => {});
    const mid = await all();
    const two = await e.followPattern(`${root}.>`, () => {});
    const after = await all();
    const added = (x: Counters[], y: Counters[]): number[] => x.map((a, i) => a.shardChannels - (y[i] as Counters).shardChannels);
    // Both patterns start with the literal `feed`: the feed of that first segment, 16,384 topics.
    expect(added(mid, before).reduce((s, k) => s + k, 0)).toBe(SLOT_COUNT);
    expect(added(mid, before).every((k) => k > 0)).toBe(true);
    expect(added(after, mid)).toEqual(masters.map(() => 0));
    await one.close();
    await two.close();
  });

  it('drops a feed once no pattern has read it for the linger time', async () => {
    const o = resolveRedisEngineOptions({ cluster: { nodes: cluster.nodes }, keyPrefix });
    const pubsub = new ShardedPubSub(o, clusterSlotOwners(raw, 'test'), { message: () => {}, resubscribed: () => {} });
    const wakeups = new ShardedWakeups(`${keyPrefix}linger:`, pubsub, () => ({ onEntry() {}, onPatternEntry() {}, onPresence() {} }), {
      lingerMs: 300,
    });
    const total = async (): Promise<number> => (await all()).reduce((s, x) => s + x.shardChannels, 0);
    try {
      const before = await total();
      await wakeups.acquire('pattern', 'lingering');
      expect(await total()).toBe(before + SLOT_COUNT);
      wakeups.release('pattern', 'lingering');
      // Taken again within the linger time: still subscribed, nothing to subscribe again.
      await wakeups.acquire('pattern', 'lingering');
      expect(await total()).toBe(before + SLOT_COUNT);
      wakeups.release('pattern', 'lingering');
      await eventually(async () => (await total()) === before, { message: 'the feed to be unsubscribed' });
    } finally {
      wakeups.close();
    }
  });

  it('reads the all-channels feed for a pattern past the bound on distinct feeds, missing nothing', async () => {
    const o = resolveRedisEngineOptions({ cluster: { nodes: cluster.nodes }, keyPrefix });
    const pubsub = new ShardedPubSub(o, clusterSlotOwners(raw, 'test'), {
      message: (t, r) => wakeups.message(t, r),
      resubscribed: () => {},
    });
    const heard: Array<[string, string]> = [];
    const wakeups = new ShardedWakeups(
      keyPrefix,
      pubsub,
      () => ({
        onEntry() {},
        onPatternEntry: (source, channel) => void heard.push([source, channel]),
        onPresence() {},
      }),
      { maxFeeds: 1 },
    );
    const publisher = engine();
    const [one, two] = [uniqueChannel('bound1'), uniqueChannel('bound2')];
    try {
      expect(wakeups.sourceOf(`${one}.>`)).toBe('bound1');
      await wakeups.acquire('pattern', wakeups.sourceOf(`${one}.>`));
      // A second first segment is past the bound: its pattern reads the feed of all channels.
      expect(wakeups.sourceOf(`${two}.>`)).toBe(ALL_FEED);
      await wakeups.acquire('pattern', ALL_FEED);
      await publisher.append({ channel: `${one}.x`, payload: '1' });
      await publisher.append({ channel: `${two}.x`, payload: '2' });
      await eventually(() => heard.length === 3, { message: () => `three feed messages (got ${JSON.stringify(heard)})` });
      expect(heard.sort()).toEqual(
        [
          [ALL_FEED, `${one}.x`],
          [ALL_FEED, `${two}.x`],
          ['bound1', `${one}.x`],
        ].sort(),
      );
    } finally {
      wakeups.close();
    }
  });

  /** A channel followed exactly and by a pattern on one engine, three entries in, published by another. */
  async function followedThrough3(name: string) {
    const subscriber = engine({ maxReconnectDelayMs: 100 });
    const publisher = engine();
    const root = uniqueChannel(name);
    const ch = `${root}.x`;
    const c = collector();
    const p = collector();
    const f = await subscriber.follow(ch, c.listener);
    const fp = await subscriber.followPattern(`${root}.*`, p.listener);
    for (let i = 1; i <= 3; i++) await publisher.append({ channel: ch, payload: String(i) });
    await c.waitFor(3);
    await p.waitFor(3);
    return { publisher, ch, c, p, f, fp };
  }

  it("fills what a follow missed while its shard's connection was down, in order", async () => {
    const { publisher, ch, c, p, f, fp } = await followedThrough3('kill');

    const owner = masters[await ownerOf(slotOfChannel(ch))] as Redis;
    await owner.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    // Appended at once, before the subscriber can have subscribed again: it must read them.
    for (let i = 4; i <= 6; i++) await publisher.append({ channel: ch, payload: String(i) });
    await c.waitFor(6);
    await p.waitFor(6);
    expect(c.offsets()).toEqual(range(1, 6));
    expect(p.entries.map((e) => e.offset)).toEqual(range(1, 6));
    await f.close();
    await fp.close();
  });

  // Last: it changes the cluster's slot layout.
  it("follows a channel's slot to its new master when the slot is migrated (resharding)", async () => {
    const { publisher, ch, c, p, f, fp } = await followedThrough3('move');

    const slot = slotOfChannel(ch);
    const from = await ownerOf(slot);
    const to = (from + 1) % masters.length;
    await migrateSlot(slot, from, to);
    expect(await ownerOf(slot)).toBe(to);

    for (let i = 4; i <= 6; i++) await publisher.append({ channel: ch, payload: String(i) });
    await c.waitFor(6);
    await p.waitFor(6);
    expect(c.offsets()).toEqual(range(1, 6));
    expect(p.entries.map((e) => e.offset)).toEqual(range(1, 6));
    expect(new Set(c.entries.map((e) => e.epoch)).size).toBe(1); // the keys moved with the slot
    // The notifications now come from the new master only.
    const before = await all();
    await publisher.append({ channel: ch, payload: '7' });
    await c.waitFor(7);
    const after = await all();
    expect(after.map((a, i) => a.spublish > (before[i] as Counters).spublish)).toEqual(masters.map((_, i) => i === to));
    await f.close();
    await fp.close();
  });
});

/** Moves `slot` with its keys from master `from` to master `to`, as redis-cli --cluster reshard does. */
async function migrateSlot(slot: number, from: number, to: number): Promise<void> {
  const src = masters[from] as Redis;
  const dst = masters[to] as Redis;
  const dstNode = cluster.nodes[to] as { host: string; port: number };
  const srcId = (await src.call('CLUSTER', 'MYID')) as string;
  const dstId = (await dst.call('CLUSTER', 'MYID')) as string;
  await dst.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', srcId);
  await src.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', dstId);
  for (;;) {
    const keys = (await src.call('CLUSTER', 'GETKEYSINSLOT', String(slot), '100')) as string[];
    if (keys.length === 0) break;
    await src.call('MIGRATE', dstNode.host, String(dstNode.port), '', '0', '5000', 'KEYS', ...keys);
  }
  // Target first, then the source, then everyone else, so no node is left pointing at the source.
  await dst.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', dstId);
  await src.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', dstId);
  for (const m of masters) if (m !== src && m !== dst) await m.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', dstId);
}
