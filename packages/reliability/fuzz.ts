// `pnpm --filter @tributary/reliability fuzz`: the long fuzz run (see src/fuzz-run.ts). Defaults:
// 200,000 frames per engine (memory and Redis, half insecure, half token mode), 5,000 HTTP requests
// per cluster, a random seed. FUZZ_SEED replays a run; FUZZ_FRAMES, FUZZ_HTTP, FUZZ_ENGINES
// (memory,redis) and FUZZ_FAMILIES (field,valid,platform,mutated,broken-json,invalid-utf8,junk)
// narrow it. Prints a summary per cluster and every finding with its frame; exits 1 on any finding.
import { startRedis } from '@tributary/testkit';
import { fuzzCampaign } from './src/fuzz-run.js';
import { killAll } from './src/procs.js';

const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const engines = (process.env.FUZZ_ENGINES ?? 'memory,redis').split(',') as Array<'memory' | 'redis'>;
const redis = engines.includes('redis') ? await startRedis() : undefined;
process.stdout.write(`fuzz: seed ${seed} (FUZZ_SEED=${seed} to replay)\n`);
const t0 = Date.now();
try {
  const { summaries, findings } = await fuzzCampaign({
    seed,
    framesPerEngine: Number(process.env.FUZZ_FRAMES ?? 200_000),
    httpRequests: Number(process.env.FUZZ_HTTP ?? 5000),
    engines,
    ...(process.env.FUZZ_FAMILIES === undefined ? {} : { families: process.env.FUZZ_FAMILIES.split(',') }),
    ...(redis === undefined ? {} : { redis: redis.url }),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  const lines = findings.lines(seed);
  process.stdout.write(
    `\nfuzz: ${summaries.length} summaries above; seed ${seed}, ${((Date.now() - t0) / 1000).toFixed(0)} s, ` +
      `${lines.length === 0 ? 'no findings' : `${lines.length} findings:\n${lines.join('\n')}`}\n`,
  );
  process.exitCode = lines.length === 0 ? 0 : 1;
} finally {
  await killAll();
  await redis?.stop();
}
