// The command connection's version of the silently-dead failure: the TCP connection to Redis stays
// open but nothing comes back. Each call fails UNAVAILABLE after commandTimeoutMs (never hangs); after
// two unanswered calls in a row the engine drops the connection and reconnects, so service resumes
// within about 2 × commandTimeoutMs instead of when the kernel's keepalive gives up (~11 min).
import { RedisEngine } from '@tributary/engine/redis';
import { startRedis, type RedisServer } from '@tributary/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../src/ledger.js';
import { startFaultProxy, type FaultProxy } from '../src/proxy.js';

let redis: RedisServer;
let proxy: FaultProxy;
beforeAll(async () => {
  redis = await startRedis();
  proxy = await startFaultProxy(redis.port);
});
afterAll(async () => {
  await proxy.close();
  await redis.stop();
});

describe('a silently dead command connection', () => {
  it('fails calls with UNAVAILABLE, then replaces the connection and serves again, storing each acked append once', async () => {
    const COMMAND_TIMEOUT_MS = 500;
    const engine = new RedisEngine({
      url: proxy.url,
      keyPrefix: `cmd${Date.now()}:`,
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
      maxReconnectDelayMs: 100,
    });
    try {
      expect((await engine.append({ channel: 'c', payload: '1', msgId: 'm1' })).offset).toBe(1);
      expect(proxy.freezeAll()).toBeGreaterThan(0);
      const failures: string[] = [];
      let acked: number | undefined;
      await until(
        async () => {
          try {
            acked = (await engine.append({ channel: 'c', payload: '2', msgId: 'm2' })).offset;
            return true;
          } catch (err) {
            failures.push((err as { code?: string }).code ?? String(err));
            return false;
          }
        },
        'an append to succeed after the connection was frozen',
        20 * COMMAND_TIMEOUT_MS,
      );
      expect(failures.length).toBeGreaterThanOrEqual(1);
      expect(new Set(failures)).toEqual(new Set(['UNAVAILABLE']));
      // A frozen attempt may have reached Redis before the reply was lost: the msgId stores it once.
      expect(acked).toBe(2);
      const r = await engine.read('c', { after: 0, limit: 10 });
      expect(r.entries.map((e) => e.payload)).toEqual(['1', '2']);
    } finally {
      await engine.close();
    }
  });
});
