import { afterAll, beforeAll } from 'vitest';
import { startRedisCluster, type RedisCluster } from '@tributary/testkit';
import { RedisEngine } from '../src/index.js';
import { describeEngineContract } from './contract.js';

let cluster: RedisCluster;
const keyPrefix = `t${Math.random().toString(36).slice(2, 8)}:`;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
});
afterAll(async () => {
  await cluster?.stop();
});

describeEngineContract(
  'redis (3-master cluster)',
  async (options) => {
    const engine = new RedisEngine({ ...options, cluster: { nodes: cluster.nodes }, keyPrefix });
    return { engine, cleanup: () => engine.close() };
  },
  { shared: true },
);
