import { defineBlock } from '@tributary/block';

/** bench-relay with two lanes: on two runner processes, two invocations at once. */
export default defineBlock({
  name: 'bench-relay-wide',
  trigger: { afterPublish: 'bench.e2e.in' },
  publishes: ['bench.e2e.out'],
  // The most a block may declare (the default, 1000/s, would be what this measures).
  concurrency: 2,
  limits: { memoryMb: 64, publishesPerSecond: 10_000 },
  async handle(msg, ctx) {
    const d = msg.data as { text: string; n: number };
    await ctx.publish('bench.e2e.out', { text: d.text.toUpperCase(), n: d.n * 2, ok: true });
  },
});
