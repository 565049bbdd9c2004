// The `@tributary/engine/redis` entry. It is separate from the root entry so that importing
// `@tributary/engine` (MemoryEngine, the StreamEngine contract) never loads ioredis; only a process
// that constructs a RedisEngine pays for it.
export { RedisEngine } from './engine.js';
export {
  resolveRedisEngineOptions,
  DEFAULT_KEY_PREFIX,
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_RECONNECT_DELAY_MS,
  DEFAULT_REDIS_URL,
} from './options.js';
export type { RedisEngineOptions, ResolvedRedisEngineOptions, RedisNode } from './options.js';
