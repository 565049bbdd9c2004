import { RedisEngine } from '@tributary/engine/redis';
import { startRedis, type RedisServer } from '@tributary/testkit';
import { afterAll, beforeAll } from 'vitest';
import { loopsContract } from './loops-contract.js';

// hostile-loops.test.ts's loop and delete suite on a real redis-server, a fresh key prefix per test.
let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

loopsContract('Redis', () => new RedisEngine({ url: redis.url, keyPrefix: `l${Math.random().toString(36).slice(2, 8)}:` }));
