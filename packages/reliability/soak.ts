// `pnpm --filter @tributary/reliability soak`: a 2-minute mixed-load soak (see src/soak.ts); writes
// its samples and verdict to packages/reliability/results/soak.json and exits non-zero on failure.
import { mkdirSync, writeFileSync } from 'node:fs';
import { runSoak } from './src/soak.js';

const durationMs = Number(process.env.SOAK_MS ?? 120_000);
const result = await runSoak(durationMs);
const dir = new URL('./results/', import.meta.url);
mkdirSync(dir, { recursive: true });
writeFileSync(new URL('soak.json', dir), `${JSON.stringify({ at: new Date().toISOString(), ...result }, null, 1)}\n`);
process.stdout.write(
  `soak ${durationMs / 1000} s: ${result.published} published, ${result.delivered} delivered, ` +
    `${result.churnSubscribes} churn subscribes, ${result.reconnects} reconnects\n${result.verdict}\n`,
);
process.exit(result.ok ? 0 : 1);
