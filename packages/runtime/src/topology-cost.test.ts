import { MemoryEngine } from '@tributary/engine';
import { afterEach, expect, it } from 'vitest';
import type { BlockInfo } from './deployed.js';
import { Topology } from './topology.js';

// The topology counts every block publish on the node's event loop. Listing the blocks is not cheap
// (BlockRunner.list: each block's stats with its p99 over 1000 sorted durations), so a block writing
// per-device channels past the 32 shown — sensor-average with more than 32 devices — must not list
// them per publish. Before, it did: with a list as costly as BlockRunner.list's, 0.37 ms of node CPU
// per publish with two blocks deployed and 1.8 ms with ten, that every WebSocket on the node waited behind.

const engines: MemoryEngine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
});

it('a block writing thousands of device channels does not list every block per publish, and still folds them on its grant', async () => {
  const engine = new MemoryEngine();
  engines.push(engine);
  const info = (name: string, publishes: string[]): BlockInfo => ({
    name,
    version: 'v1',
    trigger: { kind: 'afterPublish', patterns: [`in.${name}`] },
    publishes,
    deployedAt: Date.now(),
    stats: { invocations: 0, errors: 0, p99Ms: 0, coldStarts: 0, skipped: 0, logLinesDropped: 0, deadLettersDropped: 0 },
  });
  const blocks = [info('avg', ['averages.*']), info('alert', ['alerts.temperature'])];
  let listed = 0;
  const t = new Topology(engine, () => {
    listed++;
    return blocks;
  });
  const publish = t.count(async () => ({ offset: 1 }));
  for (let d = 0; d < 2000; d++) await publish(`averages.d${d}`, 1, { hops: 1, block: 'avg' });
  expect(listed).toBeLessThanOrEqual(5);
  const written = t.written('avg');
  expect(written.channels).toHaveLength(32);
  expect(written.folded).toEqual(['averages.*']);
  const s = await t.snapshot();
  t.close();
  expect(s.edges.find((e) => e.id === 'writes:block:avg->pattern:averages.*')?.messagesPerSecond).toBeCloseTo((2000 - 32) / 10);
});
