import { describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import type { RecoveryInfo } from '../src/index.js';
import { client, collector, range, TestBroker } from './helpers.js';
import { startBroker } from '@tributary/broker';

describe('several endpoints', () => {
  it('moves to the next node when its node goes away, and resumes there with no gap and no duplicate', async () => {
    // Two brokers on one engine: what two nodes on one Redis look like to a client.
    const a = await TestBroker.start();
    const b = await startBroker({ engine: a.engine, auth: { insecure: true }, port: 0 });
    try {
      const sub = client([a.wsUrl, b.wsUrl]);
      const pub = client(b.wsUrl);
      await Promise.all([sub.connect(), pub.connect()]);
      const nodes: string[] = [];
      sub.on('connected', (e) => nodes.push(e.node));
      const got = collector<number>();
      const recoveries: RecoveryInfo[] = [];
      await sub.subscribe<number>('feed', got.handler, { onRecovery: (r) => recoveries.push(r) });
      for (let i = 1; i <= 5; i++) await pub.publish('feed', i);
      await eventually(() => got.messages.length === 5, { message: 'first five' });

      await a.stop(); // node A goes away for good: the client must not keep knocking on it
      for (let i = 6; i <= 20; i++) await pub.publish('feed', i);
      await eventually(() => got.messages.length >= 20, { message: 'all twenty' });
      expect(got.data()).toEqual(range(1, 20));
      expect(nodes).toEqual([b.nodeId]);
      expect(recoveries).toMatchObject([{ channel: 'feed', recovered: true, resubscribed: true }]);
    } finally {
      await b.close();
    }
  });
});
