import { defineBlock } from '@tributary/block';

/** Fills its heap (16 lanes × 16 MiB, the 256 MiB maximum) until MEMORY_LIMIT, and logs 20 MB strings. */
const kept: string[] = [];

export default defineBlock({
  name: 'bench-heap-hog',
  trigger: { request: true },
  concurrency: 16,
  limits: { memoryMb: 256, cpuMs: 2_000 },
  handle(_req, ctx) {
    const big = 'x'.repeat(20 * 1024 * 1024);
    ctx.log.info(big);
    for (;;) kept.push(`${big.slice(0, 1024 * 1024)}${kept.length}`);
  },
});
