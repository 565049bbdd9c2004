/**
 * What lineage adds per block publish, on the node's CPU, as microbenchmarks (issue #24): starting and
 * ending an invocation's span with no OpenTelemetry SDK registered (the API's no-op, plus the origin
 * the host hands to publishes), encoding the envelope a publish stores, and decoding it (fan-out and
 * trace do, once per message with lineage). BENCHMARKS.md, "Lineage overhead", has a run.
 *
 * Run alone: node --import tsx scripts/bench/lineage-micro.ts
 */
import { decodeEnvelope, encodeEnvelope } from '@tributary/protocol';
// startInvocation is internal to the runtime package (not exported): measured directly on purpose.
import { startInvocation } from '../../packages/runtime/src/lineage.js';

const N = 200_000;
const WARMUP = 20_000;
const block = { name: 'relay', version: '0123456789ab' };
const lineage = { channel: 'bench.e2e.in', offset: 1, epoch: 'Xy12abcd', block: 'relay', version: '0123456789ab' };

/** Mean µs per call over N calls, after a warm-up. */
function time(fn: (i: number) => unknown): number {
  for (let i = 0; i < WARMUP; i++) fn(i);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) fn(i);
  return ((performance.now() - t0) * 1000) / N;
}

const text = encodeEnvelope({ lineage });
const result = {
  startInvocationUs: time((i) => {
    const s = startInvocation(block, { channel: 'bench.e2e.in', offset: i, epoch: 'Xy12abcd' });
    s.end();
    return s.origin;
  }),
  encodeUs: time((i) => encodeEnvelope({ lineage: { ...lineage, offset: i } })),
  decodeUs: time(() => decodeEnvelope(text)),
  envelopeBytes: Buffer.byteLength(text),
};
console.log(JSON.stringify(result));
