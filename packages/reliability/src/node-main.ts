// A Tributary process for fault tests that need knobs `tributary start` does not expose (consumer
// claim time, retry schedule, queue and connection limits). It wires the same parts the CLI's
// startNode does — RedisEngine or MemoryEngine, the blocks runtime as interceptor and routes, block
// publishes through the broker's own Publisher — and prints `listening <http url>` once it serves.
// Options come as JSON in TRIBUTARY_RELIABILITY_NODE (see NodeProcessOptions).
import { INSECURE_PRINCIPAL, readBody, startBroker, type Broker, type Publisher } from '@tributary/broker';
import { MemoryEngine, type StreamEngine } from '@tributary/engine';
import { RedisEngine } from '@tributary/engine/redis';
import { adminRoute, BlockNode, requestRoute, type PublishFn } from '@tributary/runtime';
import type { NodeProcessOptions } from './procs.js';

const o = JSON.parse(process.env.TRIBUTARY_RELIABILITY_NODE ?? '{}') as NodeProcessOptions;
const engine: StreamEngine =
  o.redis !== undefined
    ? new RedisEngine({ url: o.redis, ...(o.keyPrefix === undefined ? {} : { keyPrefix: o.keyPrefix }), ...o.engine })
    : new MemoryEngine();
// Blocks stored in the engine start consuming before the broker listens (a restarted runner may
// reclaim a message at once): their publishes wait for it, as startNode's do, instead of failing
// an attempt and being retried (which a test counting starts would see).
let publisherReady: (p: Publisher) => void = () => {};
const publisherP = new Promise<Publisher>((resolve) => (publisherReady = resolve));
const publish: PublishFn = async (channel, data, opts) => {
  const publisher = await publisherP;
  return publisher.publish({
    channel,
    data,
    hops: opts.hops,
    principal: INSECURE_PRINCIPAL,
    ...(opts.msgId === undefined ? {} : { msgId: opts.msgId }),
  });
};
const blocks = await BlockNode.start({
  engine,
  publish,
  ...(o.consumer === undefined ? {} : { consumer: o.consumer }),
  ...(o.claimIdleMs === undefined ? {} : { claimIdleMs: o.claimIdleMs }),
  ...(o.retry === undefined ? {} : { retry: o.retry }),
  pollMs: o.pollMs ?? 50,
});
const broker: Broker = await startBroker({
  engine,
  auth: o.secret === undefined ? { insecure: true } : { secret: o.secret },
  port: 0,
  interceptors: [blocks.runner.interceptor],
  routes: [adminRoute(blocks, readBody), requestRoute(blocks, readBody)],
  ...o.broker,
});
publisherReady(broker.publisher);
for (const dir of o.blockDirs ?? []) await blocks.loadDir(dir);
process.stdout.write(`listening ${broker.url}\n`);

const stop = async (): Promise<void> => {
  await blocks.close();
  await broker.close();
  await engine.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
