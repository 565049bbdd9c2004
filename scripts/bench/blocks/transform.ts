import { defineBlock } from '@tributary/block';

/** The trivial JSON transform of the warm-invocation benchmark (the same as `transform` in blocks.ts). */
export default defineBlock({
  name: 'bench-transform',
  trigger: { beforePublish: 'bench.in.*' },
  handle(msg) {
    const d = msg.data as { text: string; n: number };
    return { data: { text: d.text.toUpperCase(), n: d.n * 2, ok: true } };
  },
});
