export { freePort } from './ports.js';
export { startRedis, spawnRedis, killAndWait, assertRedisServerInstalled } from './redis.js';
export type { RedisServer, StartRedisOptions } from './redis.js';
export { startRedisCluster } from './cluster.js';
export type { RedisCluster, StartRedisClusterOptions } from './cluster.js';
export { connectWs } from './ws.js';
export type { TestSocket, Frame } from './ws.js';
export { startFakeCloudinary, stringToSign } from './cloudinary.js';
export type { FakeCloudinary, FakeUpload, StartFakeCloudinaryOptions } from './cloudinary.js';
