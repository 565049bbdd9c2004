import type { StreamEngine } from '@tributary/engine';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { kvNumber, startAdminNode, type AdminNode } from './admin-node.js';
import { echoStillWorks, payloads } from './helpers.js';

/**
 * Loops through the channels the platform writes, and delete, as one suite over every engine (as
 * the engine contract suite is): log lines and dead letters carry hops on each engine, and a delete
 * drops the block's consumer group with its backlog (on Redis, the stream group).
 */
export function loopsContract(name: string, makeEngine: () => StreamEngine): void {
  const open: AdminNode[] = [];
  afterEach(async () => {
    for (const n of open.splice(0)) await n.close();
  });
  async function adminNode(): Promise<AdminNode> {
    const n = await startAdminNode(makeEngine());
    open.push(n);
    return n;
  }

  describe(`hostile blocks (${name}): loops through system channels`, () => {
    // Hops 0 … 8: a runs at 0, 2, 4, 6, 8 and b at 1, 3, 5, 7; what b writes at hop 7 reaches a at
    // 8, and what a would write then is hop 9, which the hop limit refuses.
    for (const [what, channel] of [
      ['log lines', 'logs'],
      ['dead letters', 'dlq'],
    ] as const) {
      it(`ends a loop of two blocks through each other's ${what} at the hop limit`, async () => {
        const { engine, deploy } = await adminNode();
        expect((await deploy('echo.ts')).status).toBe(201);
        expect((await deploy(`hostile/loop-${channel}-a.ts`)).status).toBe(201);
        expect((await deploy(`hostile/loop-${channel}-b.ts`)).status).toBe(201);
        await engine.append({ channel: `loop-${channel}.start`, payload: '{}' });
        const [a, b] = [`hostile-loop-${channel}-a`, `hostile-loop-${channel}-b`];
        await eventually(async () => (await kvNumber(engine, a, 'runs')) === 5 && (await kvNumber(engine, b, 'runs')) === 4, {
          timeoutMs: 10_000,
        });
        const written = [...(await payloads(engine, `$${channel}.${a}`)), ...(await payloads(engine, `$${channel}.${b}`))];
        // A log line's hops are in its fields; a dead letter's `hops` is the failed message's.
        const hops = written.map((w) =>
          channel === 'logs' ? (w as { fields: { hops: number } }).fields.hops : ((w as { hops?: number }).hops ?? 0),
        );
        expect(hops.sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
        // Stored with the invocation's hops + 1: that is what ends the loop.
        const stored = (await engine.read(`$${channel}.${b}`, { after: 0, limit: 10 })).entries;
        expect(stored.map((e) => e.hops)).toEqual([2, 4, 6, 8]);
        // Several round trips of another block later, the loop has not gone on.
        for (let i = 0; i < 3; i++) await echoStillWorks(engine);
        expect(await kvNumber(engine, a, 'runs')).toBe(5);
        expect(await kvNumber(engine, b, 'runs')).toBe(4);
      });
    }

    it('stops a deleted block at once: its group goes with the backlog, and a redeploy starts a new one', async () => {
      const { engine, deploy, remove, node } = await adminNode();
      expect((await deploy('hang.ts')).status).toBe(201);
      for (let i = 0; i < 20; i++) await engine.append({ channel: 'hang.in', payload: JSON.stringify({ i }) });
      await eventually(async () => (await kvNumber(engine, 'hang', 'started')) === 1);
      // hang.ts waits forever with a 60 s wall time: a delete that waited for it would time the test out.
      expect(await remove('hang')).toBe(200);
      expect(node.runner.list()).toEqual([]);
      expect(await engine.groups.pending('block.hang')).toBe(0);
      expect((await deploy('hang.ts')).status).toBe(201);
      await engine.append({ channel: 'hang.in', payload: JSON.stringify({ fresh: true }) });
      await eventually(async () => (await kvNumber(engine, 'hang', 'started')) === 2);
      expect(await engine.groups.pending('block.hang')).toBe(1);
      // The one message the new group handed out is the fresh one, not the deleted group's backlog.
      const held = await engine.groups.claim('block.hang', 'probe', 0, 10);
      expect(held.map((e) => JSON.parse(e.payload) as unknown)).toEqual([{ fresh: true }]);
    });
  });
}
