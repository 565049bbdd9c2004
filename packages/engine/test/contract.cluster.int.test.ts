import { afterAll, beforeAll, beforeEach } from 'vitest';
import { Cluster } from 'ioredis';
import { startRedisCluster, type RedisCluster } from '@tributary/testkit';
import { RedisEngine } from '../src/redis/index.js';
import { describeEngineContract } from './contract.js';
import { countKeys } from './helpers.js';

let cluster: RedisCluster;
let raw: Cluster;
let keyPrefix = '';

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  raw = new Cluster(cluster.nodes);
  await raw.ping(); // so raw.nodes() knows the masters
});
beforeEach(() => {
  keyPrefix = `t${Math.random().toString(36).slice(2, 8)}:`;
});
afterAll(async () => {
  raw?.disconnect();
  await cluster?.stop();
});

describeEngineContract(
  'redis (3-master cluster)',
  async (options) => {
    const prefix = keyPrefix;
    const engine = new RedisEngine({ ...options, cluster: { nodes: cluster.nodes }, keyPrefix: prefix });
    // SCAN sees one node's keys only: ask every master.
    return { engine, cleanup: () => engine.close(), storedRecords: () => countKeys(raw.nodes('master'), prefix) };
  },
  { shared: true },
);
