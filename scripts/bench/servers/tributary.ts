/**
 * A Tributary broker node for the benchmarks, in its own process. BENCH_ENGINE=memory runs a
 * MemoryEngine; BENCH_ENGINE=redis a RedisEngine on BENCH_REDIS_URL (several nodes on one Redis
 * form a cluster). V8 is tuned as `tributary start` tunes it.
 */
import { startBroker } from '@tributary/broker';
import { MemoryEngine, type StreamEngine } from '@tributary/engine';
import { RedisEngine } from '@tributary/engine/redis';
import { serveParent } from '../lib/proc.js';
import { brokerContext } from '../../../packages/broker/src/internal.js';
import { tuneHeap } from '../../../packages/cli/src/heap.js';

// As `tributary start` runs a broker (docs/OPERATIONS.md, "Tuning").
tuneHeap();

async function makeEngine(): Promise<StreamEngine> {
  const kind = process.env.BENCH_ENGINE ?? 'memory';
  if (kind === 'memory') return new MemoryEngine();
  const url = process.env.BENCH_REDIS_URL;
  if (url === undefined) throw new Error('BENCH_REDIS_URL is required for BENCH_ENGINE=redis');
  return new RedisEngine({ url });
}

const engine = await makeEngine();
const broker = await startBroker({
  engine,
  auth: { insecure: true },
  port: 0,
  host: '127.0.0.1',
  // Every benchmark client comes from 127.0.0.1; the default 10,000 per address is exactly the RSS
  // benchmark's count, so leave headroom.
  maxConnectionsPerIp: 50_000,
  // BENCH_COALESCE_MS overrides the write-coalescing window (the fan-out benchmark compares 0 and the default).
  ...(process.env.BENCH_COALESCE_MS === undefined ? {} : { writeCoalesceMs: Number(process.env.BENCH_COALESCE_MS) }),
  ...(process.env.BENCH_NODE_ID === undefined ? {} : { nodeId: process.env.BENCH_NODE_ID }),
});
serveParent(
  broker.port,
  () => brokerContext(broker).hub.deliveries,
  async () => {
    await broker.close();
    await engine.close();
  },
);
