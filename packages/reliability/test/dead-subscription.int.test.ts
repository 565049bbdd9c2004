// The failure mode Centrifugo hit after Redis failovers: the pub/sub connection is silently dead
// (TCP stays open, nothing arrives), so a node keeps its subscribers but delivers nothing. Closed
// connections (a Redis restart) are seen at once; this one can only be noticed by asking. The
// RedisEngine PINGs its subscriber connection every `commandTimeoutMs` and replaces it when a PING
// is not answered within `commandTimeoutMs`, then re-reads every followed channel: detection within
// 2 × commandTimeoutMs, and nothing lost.
import type { Entry } from '@tributary/engine';
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

describe('a silently dead subscriber connection', () => {
  it('is noticed by the liveness PING within 2 × commandTimeoutMs, and the follow misses nothing', async () => {
    const keyPrefix = `rel${Date.now()}:`;
    const COMMAND_TIMEOUT_MS = 1000;
    const follower = new RedisEngine({ url: proxy.url, keyPrefix, commandTimeoutMs: COMMAND_TIMEOUT_MS, maxReconnectDelayMs: 200 });
    const writer = new RedisEngine({ url: redis.url, keyPrefix });
    try {
      const got: Entry[] = [];
      await follower.follow('feed', (e) => void got.push(e));
      await writer.append({ channel: 'feed', payload: '1' });
      await until(() => got.length === 1, 'the first entry');

      expect(proxy.freezeSubscribers()).toBe(1);
      const frozenAt = Date.now();
      for (let i = 2; i <= 5; i++) await writer.append({ channel: 'feed', payload: String(i) });
      // Bounded wait, generous for a loaded CI machine; the measured time is printed.
      await until(() => got.length === 5, 'entries appended while the subscriber was dead', 20 * COMMAND_TIMEOUT_MS);
      const detectedMs = Date.now() - frozenAt;
      expect(got.map((e) => e.payload)).toEqual(['1', '2', '3', '4', '5']);
      console.log(
        `dead-subscription: noticed and refilled ${detectedMs} ms after the connection went silent (commandTimeoutMs ${COMMAND_TIMEOUT_MS})`,
      );
    } finally {
      await follower.close();
      await writer.close();
    }
  });
});
