import { afterAll, beforeAll, beforeEach } from 'vitest';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '@tributary/testkit';
import { RedisEngine } from '../src/redis/index.js';
import { describeEngineContract } from './contract.js';
import { countKeys } from './helpers.js';

let redis: RedisServer;
let raw: Redis;
// A random prefix per test: tests never see each other's keys, and nothing is ever flushed.
let keyPrefix = '';

beforeAll(async () => {
  redis = await startRedis();
  raw = new Redis(redis.url);
});
beforeEach(() => {
  keyPrefix = `t${Math.random().toString(36).slice(2, 8)}:`;
});
afterAll(async () => {
  raw?.disconnect();
  await redis?.stop();
});

describeEngineContract(
  'redis (single server)',
  async (options) => {
    const prefix = keyPrefix;
    const engine = new RedisEngine({ ...options, url: redis.url, keyPrefix: prefix });
    return { engine, cleanup: () => engine.close(), storedRecords: () => countKeys([raw], prefix) };
  },
  { shared: true },
);
