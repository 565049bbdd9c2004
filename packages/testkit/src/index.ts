export { freePort } from './ports.js';
export { startRedis, spawnRedis, killAndWait, assertRedisServerInstalled } from './redis.js';
export type { RedisServer, StartRedisOptions } from './redis.js';
