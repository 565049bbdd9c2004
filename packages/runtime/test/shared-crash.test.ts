import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { compileSource } from '../src/index.js';
import { payloads, POISON_BLOCK, runner } from './helpers.js';

/**
 * A block that crashes its runner on every invocation must not take its neighbours' messages to the
 * dead-letter stream with it (#19). After a crash that several invocations witnessed, the restarted
 * runner runs one piece of work at a time: the poison message then crashes alone and is blamed, and
 * what waited its turn is never held against its message.
 */

const NEIGHBOUR = `
import { defineBlock } from '@tributary/block';
export default defineBlock({
  name: 'neighbour',
  trigger: { afterPublish: 'work' },
  publishes: ['finished'],
  limits: { wallMs: 10000 },
  async handle(msg, ctx) {
    await ctx.call('chaos', 'hold', {});
    await ctx.publish('finished', msg.data);
  },
});`;

describe('a block that crashes its runner every time', () => {
  it('is dead-lettered alone: the neighbour on its runner loses no message to it', async () => {
    let crashes = 0;
    let holding = 0;
    const registry = new Registry();
    const { runner: r, engine } = runner({
      metrics: registry,
      runners: { size: 1 },
      // One attempt: a single crash held against the neighbour's message would dead-letter it.
      retry: { attempts: 1, baseMs: 10, maxMs: 40 },
      modules: {
        chaos: {
          // Every poison invocation takes its runner down, like a V8 fatal error would.
          crash: async () => {
            crashes++;
            r.processesOf('poison')[0]?.kill();
            await new Promise(() => {});
            return null;
          },
          // The neighbour is busy for a while, so the poison's retries find it in flight.
          hold: async () => {
            holding++;
            await new Promise((resolve) => setTimeout(resolve, 300));
            return null;
          },
        },
      },
    });
    await r.deploy(await compileSource(POISON_BLOCK));
    await r.deploy(await compileSource(NEIGHBOUR));
    await engine.append({ channel: 'work', payload: JSON.stringify({ id: 1 }) });
    await eventually(() => holding >= 1);
    await engine.append({ channel: 'poison.in', payload: '{}' });
    for (let id = 2; id <= 4; id++) await engine.append({ channel: 'work', payload: JSON.stringify({ id }) });
    const dead = await eventually(
      async () => {
        const d = await payloads(engine, '$dlq.poison');
        return d.length > 0 ? d : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(dead).toHaveLength(1);
    const done = await eventually(
      async () => {
        const f = await payloads(engine, 'finished');
        return f.length >= 4 ? f : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(new Set(done.map((d) => (d as { id: number }).id))).toEqual(new Set([1, 2, 3, 4]));
    expect(await payloads(engine, '$dlq.neighbour')).toEqual([]);
    // Blamed alone within its attempts: a spared shared crash, then one of its own.
    expect(crashes).toBeLessThanOrEqual(3);
  });
});
