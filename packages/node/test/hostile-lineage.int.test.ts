import type { StreamEngine } from '@tributary/engine';
import { createToken } from '@tributary/broker';
import { connectWs, type Frame } from '@tributary/testkit';
import { describe, expect, it } from 'vitest';
import type { TributaryNode } from '../src/node.js';
import { nodeTestKit } from './helpers.js';

// Lineage and trace context make every frame of a block's output longer than its data: the parent's
// channel (up to 200 characters), epoch, block and version, and a traceparent. The WebSocket history
// reply promises to hold at most maxQueueBytes (4 MiB) of messages (docs/PROTOCOL.md), sized before it
// is encoded: the envelope must count, or a reply of a pipeline's output passes the bound.

const SECRET = 'hostile-lineage-secret-0123456789abcdef';
const ADMIN = { admin: true, grants: {} } as const;
const MAX_QUEUE_BYTES = 4 * 1024 * 1024;

const kit = nodeTestKit('hl');
const { engines } = kit;

const start = (make: () => StreamEngine): Promise<TributaryNode> => kit.node(make, SECRET);

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
      kit.cleanup(() => ws.close());
      const reply = await ws.request({ type: 'history', channel: 'alerts.all', limit: 1000 });
      const messages = reply.messages as Array<{ offset: number; lineage?: { channel: string } }>;
      expect(messages.length).toBeGreaterThan(0);
      expect(messages[0]?.lineage?.channel).toBe(parent);
      // What the promise bounds: the reply's messages, as sent.
      expect(Buffer.byteLength(JSON.stringify(messages))).toBeLessThanOrEqual(MAX_QUEUE_BYTES);
      // And the newest are the ones kept.
      expect(messages.at(-1)?.offset).toBe(1000);
    });

    it('lineage follows the grants on a resumed subscription, a pattern subscription, HTTP history and after an auth frame narrows them', async () => {
      const node = await start(make);
      const lineage = { channel: 'averages.d1', offset: 1, epoch: 'e1', block: 'alert', version: 'v1' };
      await node.publisher.publish({ channel: 'alerts.t', data: 1, principal: ADMIN, hops: 1, lineage });
      const wide = await createToken({ secret: SECRET, grants: { 'alerts.*': ['subscribe', 'history'], 'averages.>': ['subscribe'] } });
      // Subscribe or history on `>` reaches no system channel, and publish is not a read grant.
      const narrow = await createToken({ secret: SECRET, grants: { 'alerts.*': ['subscribe', 'history'], averages: ['subscribe'] } });
      const wsUrl = `${node.broker.url.replace(/^http/, 'ws')}/v1/ws?token=`;
      const ws = await connectWs(wsUrl + wide);
      kit.cleanup(() => ws.close());
      const isMessage = (f: Frame): boolean => f.type === 'message';
      // A resumed subscription replays the stored message with its lineage to a reader of the parent.
      const { epoch } = await node.publisher.publish({ channel: 'alerts.t', data: 2, principal: ADMIN, hops: 1, lineage });
      const sub = await ws.request({ type: 'subscribe', channel: 'alerts.t', since: { offset: 0, epoch } });
      expect(sub).toMatchObject({ type: 'subscribed', recovered: true });
      expect(await ws.next(isMessage)).toMatchObject({ offset: 1, lineage });
      expect(await ws.next(isMessage)).toMatchObject({ offset: 2, lineage });
      // Narrowed by an auth frame: the same connection's next live message comes without it.
      expect(await ws.request({ type: 'auth', token: narrow })).toMatchObject({ type: 'authed' });
      await node.publisher.publish({ channel: 'alerts.t', data: 3, principal: ADMIN, hops: 1, lineage });
      const third = await ws.next(isMessage);
      expect(third).toMatchObject({ offset: 3, data: 3 });
      expect(third).not.toHaveProperty('lineage');
      // A pattern subscriber without the parent grant, resumed or live, never gets it either.
      const other = await connectWs(wsUrl + narrow);
      kit.cleanup(() => other.close());
      expect(await other.request({ type: 'subscribe', channel: 'alerts.*' })).toMatchObject({ type: 'subscribed', pattern: true });
      await node.publisher.publish({ channel: 'alerts.t', data: 4, principal: ADMIN, hops: 1, lineage });
      expect(await other.next(isMessage)).not.toHaveProperty('lineage');
      const h = await other.request({ type: 'history', channel: 'alerts.t' });
      for (const m of h.messages as object[]) expect(m).not.toHaveProperty('lineage');
      const http = await fetch(`${node.broker.url}/v1/channels/alerts.t/messages`, { headers: { authorization: `Bearer ${narrow}` } });
      for (const m of ((await http.json()) as { messages: object[] }).messages) expect(m).not.toHaveProperty('lineage');
      const trace = await fetch(`${node.broker.url}/v1/trace/alerts.t/1`, { headers: { authorization: `Bearer ${narrow}` } });
      expect(await trace.json()).toEqual({ steps: [expect.objectContaining({ channel: 'alerts.t', offset: 1 })], truncated: true });
    });
  });
}
