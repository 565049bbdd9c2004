import { MemoryEngine } from '@tributary/engine';
import { afterEach, describe, expect, it } from 'vitest';
import type { BlockInfo } from './deployed.js';
import { Topology } from './topology.js';

const engines: MemoryEngine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
});

function block(name: string, trigger: string, publishes: string[]): BlockInfo {
  return {
    name,
    version: 'v1',
    trigger: { kind: 'afterPublish', patterns: [trigger] },
    publishes,
    deployedAt: Date.now(),
    stats: { invocations: 0, errors: 0, p99Ms: 0, coldStarts: 0, skipped: 0, logLinesDropped: 0, deadLettersDropped: 0 },
  };
}

function topology(blocks: BlockInfo[], maxChannelsPerBlock?: number): Topology {
  const engine = new MemoryEngine();
  engines.push(engine);
  return new Topology(engine, () => blocks, maxChannelsPerBlock === undefined ? {} : { maxChannelsPerBlock });
}

describe('Topology', () => {
  it('draws at most maxChannelsPerBlock written channels per block, counting the rest on their grant', async () => {
    const t = topology([block('avg', 'sensors.*', ['averages.*'])], 2);
    const publish = t.count(async () => ({ offset: 1 }));
    for (const d of ['a', 'b', 'c', 'd', 'c']) await publish(`averages.${d}`, 1, { hops: 1, block: 'avg' });
    const s = await t.snapshot();
    t.close();
    const writes = s.edges.filter((e) => e.kind === 'writes').map((e) => [e.to, e.messagesPerSecond]);
    expect(writes).toEqual([
      ['channel:averages.a', 0.1],
      ['channel:averages.b', 0.1],
      ['pattern:averages.*', 0.3],
    ]);
    expect(t.written('avg')).toEqual({ channels: ['averages.a', 'averages.b'], folded: ['averages.*'] });
    // The grant written through is a writes edge now, not a grant edge.
    expect(s.edges.filter((e) => e.kind === 'grant')).toEqual([]);
  });

  it('counts refused publishes as errors of the edge, and leaves system channels out', async () => {
    const t = topology([block('alert', 'averages.*', ['alerts.>'])]);
    const publish = t.count(async (channel) => {
      if (channel === 'alerts.refused') throw Object.assign(new Error('hop limit'), { code: 'HOP_LIMIT' });
      return { offset: 1 };
    });
    await publish('alerts.ok', 1, { hops: 1, block: 'alert' });
    await expect(publish('alerts.refused', 1, { hops: 1, block: 'alert' })).rejects.toMatchObject({ code: 'HOP_LIMIT' });
    await publish('$logs.alert', 1, { hops: 1, block: 'alert' });
    const s = await t.snapshot();
    t.close();
    const edge = (to: string) => s.edges.find((e) => e.kind === 'writes' && e.to === to);
    expect(edge('channel:alerts.ok')).toMatchObject({ messagesPerSecond: 0.1, errorsPerSecond: 0 });
    expect(edge('channel:alerts.refused')).toMatchObject({ messagesPerSecond: 0, errorsPerSecond: 0.1 });
    expect(s.nodes.some((n) => n.name.startsWith('$'))).toBe(false);
  });

  it('refuses options out of range, naming the field', () => {
    expect(() => topology([], -1)).toThrow(/topology\.maxChannelsPerBlock/);
  });
});
