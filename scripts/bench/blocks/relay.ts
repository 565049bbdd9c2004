import { defineBlock } from '@tributary/block';

/** Republishes every message of `bench.e2e.in` to `bench.e2e.out` (end-to-end throughput benchmark). */
export default defineBlock({
  name: 'bench-relay',
  trigger: { afterPublish: 'bench.e2e.in' },
  publishes: ['bench.e2e.out'],
  // The most a block may declare (the default, 1000/s, would be what this measures).
  limits: { publishesPerSecond: 10_000 },
  async handle(msg, ctx) {
    const d = msg.data as { text: string; n: number };
    await ctx.publish('bench.e2e.out', { text: d.text.toUpperCase(), n: d.n * 2, ok: true });
  },
});
