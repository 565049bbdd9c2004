import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { startRedisCluster, type RedisCluster } from '@tributary/testkit';
import { RedisEngine } from '../src/redis/index.js';
import { channelKeys, dedupKey } from '../src/redis/keys.js';
import { collector, uniqueChannel } from './helpers.js';

const keyPrefix = `t${Math.random().toString(36).slice(2, 8)}:`;
let cluster: RedisCluster;
let raw: Cluster;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  raw = new Cluster(cluster.nodes);
});
afterAll(async () => {
  raw?.disconnect();
  await cluster?.stop();
});

describe('RedisEngine on a Redis Cluster', () => {
  it('puts every key of a channel in one slot, and spreads channels over the masters', async () => {
    const owners = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const ch = uniqueChannel(`slots.c${i}`);
      const k = channelKeys(keyPrefix, ch);
      const names = [k.stream, k.meta, k.presence, dedupKey(keyPrefix, ch, 'msg{with}braces')];
      const slots = await Promise.all(names.map((n) => raw.cluster('KEYSLOT', n)));
      expect(new Set(slots).size).toBe(1);
      const slot = slots[0] as number;
      const shards = await raw.cluster('SLOTS');
      const owner = shards.find(([from, to]) => slot >= from && slot <= to);
      owners.add(String(owner?.[2]?.[1]));
    }
    expect(owners.size).toBeGreaterThan(1);
  });

  it('delivers appends from every master to a pattern follow on one subscriber connection', async () => {
    const e = new RedisEngine({ cluster: { nodes: cluster.nodes.slice(0, 1) }, keyPrefix });
    try {
      const root = uniqueChannel('spread');
      const c = collector();
      const f = await e.followPattern(`${root}.*`, c.listener);
      const channels = Array.from({ length: 12 }, (_, i) => `${root}.c${i}`);
      for (const ch of channels) await e.append({ channel: ch, payload: JSON.stringify(ch) });
      await c.waitFor(12);
      expect(c.entries.map((x) => x.channel).sort()).toEqual([...channels].sort());
      expect(c.entries.every((x) => x.offset === 1 && x.payload === JSON.stringify(x.channel))).toBe(true);
      await f.close();
    } finally {
      await e.close();
    }
  });
});
