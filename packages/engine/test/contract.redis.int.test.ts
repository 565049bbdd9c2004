import { afterAll, beforeAll } from 'vitest';
import { startRedis, type RedisServer } from '@tributary/testkit';
import { RedisEngine } from '../src/index.js';
import { describeEngineContract } from './contract.js';

let redis: RedisServer;
// A random prefix per file: tests never see each other's keys, and nothing is ever flushed.
const keyPrefix = `t${Math.random().toString(36).slice(2, 8)}:`;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

describeEngineContract(
  'redis (single server)',
  async (options) => {
    const engine = new RedisEngine({ ...options, url: redis.url, keyPrefix });
    return { engine, cleanup: () => engine.close() };
  },
  { shared: true },
);
