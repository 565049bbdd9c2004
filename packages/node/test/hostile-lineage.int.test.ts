import { MemoryEngine, type StreamEngine } from '@tributary/engine';
import { RedisEngine } from '@tributary/engine/redis';
import { connectWs, startRedis, type RedisServer } from '@tributary/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TributaryNode } from '../src/node.js';

// Lineage and trace context make every frame of a block's output longer than its data: the parent's
// channel (up to 200 characters), epoch, block and version, and a traceparent. The WebSocket history
// reply promises to hold at most maxQueueBytes (4 MiB) of messages (docs/PROTOCOL.md), sized before it
// is encoded: the envelope must count, or a reply of a pipeline's output passes the bound.

const SECRET = 'hostile-lineage-secret-0123456789abcdef';
const ADMIN = { admin: true, grants: {} } as const;
const MAX_QUEUE_BYTES = 4 * 1024 * 1024;

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

const engines: Record<string, () => StreamEngine> = {
  memory: () => new MemoryEngine(),
  redis: () => new RedisEngine({ url: redis.url, keyPrefix: `hl${Math.random().toString(36).slice(2, 8)}:` }),
};

async function start(make: () => StreamEngine): Promise<TributaryNode> {
  const engine = make();
  cleanups.push(() => engine.close());
  const node = await startNode({ engine, auth: { secret: SECRET }, port: 0 });
  cleanups.push(() => node.close());
  return node;
}

for (const [kind, make] of Object.entries(engines)) {
  describe(`lineage on the ${kind} engine, hostile`, () => {
    it('a history reply of messages with lineage stays within maxQueueBytes', async () => {
      const node = await start(make);
      // 1000 outputs of a block (the Publisher's block path: lineage and a traceparent), 3.9 KB of data
      // each, made from a reading on a channel with a 190-character name.
      const parent = `sensors.${'p'.repeat(182)}`;
      const data = { text: 'x'.repeat(3900) };
      for (let i = 1; i <= 1000; i++) {
        await node.publisher.publish({
          channel: 'alerts.all',
          data,
          principal: ADMIN,
          hops: 1,
          lineage: { channel: parent, offset: i, epoch: 'e0123456789', block: 'relay', version: '0123456789ab' },
          traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        });
      }
      const ws = await connectWs(`${node.broker.url.replace(/^http/, 'ws')}/v1/ws?token=${SECRET}`);
      cleanups.push(() => ws.close());
      const reply = await ws.request({ type: 'history', channel: 'alerts.all', limit: 1000 });
      const messages = reply.messages as Array<{ offset: number; lineage?: { channel: string } }>;
      expect(messages.length).toBeGreaterThan(0);
      expect(messages[0]?.lineage?.channel).toBe(parent);
      // What the promise bounds: the reply's messages, as sent.
      expect(Buffer.byteLength(JSON.stringify(messages))).toBeLessThanOrEqual(MAX_QUEUE_BYTES);
      // And the newest are the ones kept.
      expect(messages.at(-1)?.offset).toBe(1000);
    });
  });
}
