import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { decodeEnvelope } from '@tributary/protocol';
import { eventually } from '@tributary/testkit';
import { describe, expect, it } from 'vitest';
import { startNode, type TributaryNode } from '../src/node.js';
import { nodeTestKit } from './helpers.js';

// `POST /v1/admin/replay` over the first-party sensor-average block: a version tried on a channel's
// retained history, its outputs beside the deployed version's (found through lineage), nothing
// written unless `into` is given.

const SECRET = 'replay-test-secret-0123456789abcdef';
const folder = fileURLToPath(new URL('../../../blocks/sensor-average', import.meta.url));

const kit = nodeTestKit('rep');
const { engines } = kit;

interface Report {
  block: string;
  version: string;
  results: Array<{
    input: { channel: string; offset: number; data: unknown };
    outputs: Array<{ channel: string; data: Record<string, unknown> }>;
    deployed: Array<{ channel: string; offset: number; data: Record<string, unknown> }>;
    same: boolean;
  }>;
  summary: { inputs: number; outputs: number; differing: number };
}

async function replay(node: TributaryNode, body: object): Promise<{ status: number; body: Report & { error?: { code: string } } }> {
  const res = await fetch(`${node.broker.url}/v1/admin/replay`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Report & { error?: { code: string } } };
}

for (const [kind, make] of Object.entries(engines)) {
  describe(`replay on the ${kind} engine`, () => {
    it('shows a changed version differing from the deployed one, writes nothing without into, and publishes under into with lineage', async () => {
      const engine = make();
      kit.cleanup(() => engine.close());
      const node = await startNode({ engine, auth: { secret: SECRET }, port: 0 });
      kit.cleanup(() => node.close());
      const prepared = await node.blocks.prepareFolder(folder);
      await node.blocks.deploy(prepared.compiled, prepared.config);
      for (const celsius of [20, 30, 40]) {
        await node.publisher.publish({ channel: 'sensors.d1', data: { celsius }, principal: { admin: true, grants: {} } });
      }
      await eventually(async () => (await engine.state('averages.d1')).last === 3, { timeoutMs: 15_000, message: 'three averages' });
      const stored = (await engine.state('averages.d1')).last;

      // The deployed bundle itself: every input gives what the deployed version gave.
      const same = await replay(node, { code: prepared.compiled.code, config: prepared.config, from: 'sensors.d1', since: '0' });
      expect(same.status).toBe(200);
      expect(same.body).toMatchObject({
        block: 'sensor-average',
        version: prepared.compiled.version,
        summary: { inputs: 3, outputs: 3, differing: 0 },
      });
      for (const r of same.body.results) {
        expect(r.same).toBe(true);
        expect(r.deployed).toHaveLength(1);
        expect(r.outputs).toEqual(r.deployed.map((d) => ({ channel: d.channel, data: d.data })));
      }

      // A changed version: its outputs carry a new field, so every input differs.
      const source = (await readFile(`${folder}/src/index.ts`, 'utf8')).replace(
        'const average: Average = {',
        "const average: Average & { unit: string } = { unit: 'C',",
      );
      const changed = await replay(node, { source, config: prepared.config, from: 'sensors.d1', limit: 2 });
      expect(changed.status).toBe(200);
      expect(changed.body.version).not.toBe(prepared.compiled.version);
      expect(changed.body.summary).toEqual({ inputs: 2, outputs: 2, differing: 2 });
      // Without since: the latest two readings, in offset order.
      expect(changed.body.results.map((r) => r.input.offset)).toEqual([2, 3]);
      expect(changed.body.results[1]?.outputs[0]).toMatchObject({ channel: 'averages.d1', data: { unit: 'C', celsius: 30 } });
      expect(changed.body.results[1]?.deployed[0]?.data).not.toHaveProperty('unit');
      // Nothing written: no new average, and no prefix channel.
      expect((await engine.state('averages.d1')).last).toBe(stored);
      expect((await engine.state('trial.averages.d1')).last).toBe(0);

      // With into, the outputs appear under the prefix, each with lineage to its input and the tried version.
      const into = await replay(node, { source, config: prepared.config, from: 'sensors.d1', since: '1', into: 'trial' });
      expect(into.body.summary).toMatchObject({ inputs: 2, differing: 2 });
      const written = await engine.read('trial.averages.d1', { after: 0, limit: 10 });
      expect(written.entries.map((e) => JSON.parse(e.payload) as { unit: string })).toMatchObject([{ unit: 'C' }, { unit: 'C' }]);
      expect(written.entries.map((e) => decodeEnvelope(e.meta).lineage)).toMatchObject([
        { channel: 'sensors.d1', offset: 2, block: 'sensor-average', version: changed.body.version },
        { channel: 'sensors.d1', offset: 3, block: 'sensor-average', version: changed.body.version },
      ]);
      expect((await engine.state('averages.d1')).last).toBe(stored);

      // A time as since: everything stored from then on.
      const byTime = await replay(node, { code: prepared.compiled.code, from: 'sensors.d1', since: new Date(0).toISOString() });
      expect(byTime.body.summary.inputs).toBe(3);
      // A version that is not an after-publish block is refused with the block's code.
      const request = await replay(node, {
        source:
          "import { defineBlock } from '@tributary/block';\nexport default defineBlock({ name: 'r', trigger: { request: true }, handle: () => ({}) });",
        from: 'sensors.d1',
      });
      expect(request).toMatchObject({ status: 422, body: { error: { code: 'INVALID_BLOCK' } } });
    });
  });
}
