export { freePort } from './ports.js';
export { startRedis, spawnRedis, killAndWait, assertRedisServerInstalled } from './redis.js';
export type { RedisServer, StartRedisOptions } from './redis.js';
export { connectWs } from './ws.js';
export type { TestSocket, Frame } from './ws.js';
