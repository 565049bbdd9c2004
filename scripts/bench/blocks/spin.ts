import { defineBlock } from '@tributary/block';

/** Burns its whole CPU limit (5 s, the most a block may declare) in a loop on every request. */
export default defineBlock({
  name: 'bench-spin',
  trigger: { request: true },
  limits: { cpuMs: 5_000, wallMs: 10_000 },
  handle() {
    for (;;) {
      // spin until V8 stops it: CPU_LIMIT
    }
  },
});
