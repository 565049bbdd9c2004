import { MemoryEngine, type StreamEngine } from '@tributary/engine';
import { RedisEngine } from '@tributary/engine/redis';
import { startRedis, type RedisServer } from '@tributary/testkit';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startNode, type TributaryNode } from '../src/node.js';

/**
 * What the node's two-engine integration tests share: one real redis-server per file, cleanups
 * run after each test, and each engine under a fresh key prefix (tests of a file share the server).
 */
export function nodeTestKit(prefix: string): {
  /** Memory and Redis, by name: `it.each(Object.entries(kit.engines))`, `for (const [name, make] of …)`. */
  engines: Record<'memory' | 'redis', () => StreamEngine>;
  /** Runs `fn` after the current test (last registered, first run). */
  cleanup: (fn: () => Promise<void>) => void;
  /** A node on a new engine of `make`, closed (with its engine) after the test. */
  node: (make: () => StreamEngine, secret: string) => Promise<TributaryNode>;
  /** The file's redis-server (started before its first test). */
  redis: () => RedisServer;
} {
  let server: RedisServer | undefined;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()?.();
  });
  const redis = (): RedisServer => {
    if (server === undefined) throw new Error('the test Redis is not started yet (use it inside a test)');
    return server;
  };
  const cleanup = (fn: () => Promise<void>): void => {
    cleanups.push(fn);
  };
  return {
    engines: {
      memory: () => new MemoryEngine(),
      redis: () => new RedisEngine({ url: redis().url, keyPrefix: `${prefix}${Math.random().toString(36).slice(2, 8)}:` }),
    },
    cleanup,
    redis,
    async node(make, secret) {
      const engine = make();
      cleanup(() => engine.close());
      const node = await startNode({ engine, auth: { secret }, port: 0 });
      cleanup(() => node.close());
      return node;
    },
  };
}
