import { existsSync } from 'node:fs';
import {
  can,
  INSECURE_PRINCIPAL,
  Publisher,
  resolveBrokerOptions,
  startBroker,
  traceRoute,
  type AuthOptions,
  type Broker,
} from '@tributary/broker';
import { readBody, type HttpRoute } from '@tributary/server';
import { CONSOLE_PATH, consoleRoute } from '@tributary/console';
import type { StreamEngine } from '@tributary/engine';
import { createImages, type Images, type ImagesOptions } from '@tributary/images';
import {
  adminRoute,
  BlockNode,
  replayRoute,
  requestRoute,
  type HostModule,
  type PreparedBlock,
  type PublishFn,
  type RunnerPoolOptions,
  topologyRoute,
} from '@tributary/runtime';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * Not a secret: what a node in insecure mode derives its image-URL key from, so that `tributary
 * image-url --insecure` signs URLs that `tributary start --insecure` (and the examples) serve, across
 * restarts. Insecure mode has no auth at all and listens on loopback only.
 */
export const INSECURE_IMAGE_SECRET = 'tributary insecure development mode: no auth';

/** Where `GET /` sends a reader for the documentation (the repository's docs folder). */
const DOCS_URL = 'https://github.com/tributary-dev/tributary/tree/main/docs';

/** The process metrics' own registry, made on first use: see {@link addProcessMetrics}. */
let processMetrics: Registry | undefined;

/**
 * Adds Node's process metrics (prom-client's defaults: CPU, memory, heap, event-loop lag, GC,
 * handles, version) to a node's registry. They are collected once per process and the same metric
 * objects registered in every node's registry: `collectDefaultMetrics` starts an event-loop-delay
 * monitor and a GC observer on every call, with no way to stop them, and one process may run many
 * nodes (tests do) — whose registries are each fresh, so no name is registered twice.
 */
function addProcessMetrics(registry: Registry): void {
  if (processMetrics === undefined) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  for (const { name } of processMetrics.getMetricsAsArray()) {
    const metric = processMetrics.getSingleMetric(name);
    if (metric !== undefined) registry.registerMetric(metric);
  }
}

/** Options of {@link startNode}: a broker plus the blocks runtime on one engine. */
export interface NodeOptions {
  engine: StreamEngine;
  auth: AuthOptions;
  port?: number;
  host?: string;
  logger?: Logger;
  /** Block folders to load; each sub-folder with a block.json is a block. */
  blockDirs?: string[];
  /** Secrets per block name. */
  secrets?: Record<string, Record<string, string>>;
  /** Extra host modules for blocks (images …). */
  modules?: Record<string, HostModule>;
  /** Consumer-group claim time for after-publish blocks, ms. */
  claimIdleMs?: number;
  /** The runner processes block isolates live in (docs/BLOCKS.md, Isolation). */
  runners?: RunnerPoolOptions;
  /**
   * The images capability (blob store, upload tokens, transforms, on-the-fly URLs): adds the
   * `images` host module for blocks and the /v1/uploads, /v1/blobs and /v1/images routes. `engine`
   * defaults to this node's; `can` to the broker's; `secret` (for deriving the URL signing key) to
   * `auth.secret`.
   */
  images?: Omit<ImagesOptions, 'engine'> & { engine?: ImagesOptions['engine'] };
  /** Extra HTTP routes (an app's own pages, webhooks), tried after the built-in ones. */
  routes?: HttpRoute[];
  /** Extra options passed to the broker as-is. */
  broker?: { maxPayloadBytes?: number; nodeId?: string; writeCoalesceMs?: number };
  /**
   * Called once the broker listens, before the block folders are deployed (`GET /readyz` answers
   * 503 meanwhile); startNode waits for it. For announcing the node early, or for tests of the
   * startup window.
   */
  onListening?: (broker: Broker) => void | Promise<void>;
}

/** A running Tributary process. */
export interface TributaryNode {
  broker: Broker;
  blocks: BlockNode;
  /** The one publish path (WebSocket, HTTP, blocks and the platform's own messages). */
  publisher: Publisher;
  /** The images capability, when `images` was given. */
  images?: Images;
  close(): Promise<void>;
}

/**
 * Starts a node. The parts every other part uses are built first — the Prometheus registry (one
 * /metrics page) and the Publisher (the one publish path) — and injected: the blocks runtime
 * publishes through the Publisher, its before-publish blocks are the Publisher's interceptor, its
 * deploy notices and images' upload events go through the Publisher's platform path, and the broker
 * serves WebSockets and HTTP over the same Publisher.
 */
export async function startNode(o: NodeOptions): Promise<TributaryNode> {
  const registry = new Registry();
  addProcessMetrics(registry);
  // The broker's limits, resolved once: the Publisher holds every publish to them, blocks included.
  const limits = resolveBrokerOptions({ engine: o.engine, auth: o.auth, ...o.broker });
  const publisher = new Publisher(o.engine, limits);
  await o.engine.ready();
  // Blocks stored in the engine run as soon as the runtime starts: their publishes wait until every
  // stored block is loaded and the before-publish ones intercept, so none skips a block that loads
  // a moment later.
  let runtimeUp!: () => void;
  const runtimeStarted = new Promise<void>((resolve) => {
    runtimeUp = resolve;
  });
  const publish: PublishFn = async (channel, data, opts) => {
    await runtimeStarted;
    const req: Parameters<Publisher['publish']>[0] = { channel, data, hops: opts.hops, principal: INSECURE_PRINCIPAL, transport: 'block' };
    if (opts.msgId !== undefined) req.msgId = opts.msgId;
    if (opts.lineage !== undefined) req.lineage = opts.lineage;
    if (opts.traceparent !== undefined) req.traceparent = opts.traceparent;
    return publisher.publish(req);
  };
  let images: Images | undefined;
  if (o.images !== undefined) {
    // Insecure mode has no secret: image URLs are signed with the fixed development key, which
    // `tributary image-url --insecure` signs with too.
    const secret = o.auth.insecure === true ? INSECURE_IMAGE_SECRET : o.auth.secret;
    images = createImages({
      secret,
      can: (p, action, channel) => can(p, action, channel),
      publish: (channel, data, opts) => publisher.publishPlatform(channel, data, opts.msgId),
      ...o.images,
      engine: o.images.engine ?? o.engine,
    });
    // A remote store (S3) that refuses the credentials or has no such bucket fails the start here,
    // with its typed error, rather than the first upload an hour later.
    await images.store.check?.();
  }
  const runnerOptions: Parameters<typeof BlockNode.start>[0] = {
    engine: o.engine,
    publish,
    announce: (channel, data) => publisher.publishPlatform(channel, data),
    dirs: [],
    secrets: o.secrets ?? {},
    modules: images === undefined ? (o.modules ?? {}) : { images: images.module, ...o.modules },
    // Blocks' publishes and results are measured against the broker's own limit, not the default.
    maxPayloadBytes: limits.maxPayloadBytes,
    metrics: registry,
  };
  if (o.logger !== undefined) runnerOptions.logger = o.logger;
  if (o.claimIdleMs !== undefined) runnerOptions.claimIdleMs = o.claimIdleMs;
  if (o.runners !== undefined) runnerOptions.runners = o.runners;
  const blocks = await BlockNode.start(runnerOptions);
  publisher.use(blocks.runner.interceptor);
  runtimeUp();
  // The folders' after-publish groups are registered before the broker listens: a group sees only
  // what is appended after its registration, and an upload or publish this node accepts while the
  // blocks still load must wait in the group rather than be missed. A folder that fails to compile
  // or load fails the start here, before the port is taken.
  let prepared: PreparedBlock[] = [];
  try {
    for (const dir of o.blockDirs ?? []) {
      if (existsSync(dir)) prepared = prepared.concat(await blocks.prepareDir(dir));
    }
  } catch (err) {
    await blocks.close();
    throw err;
  }
  const routes: HttpRoute[] = [
    adminRoute(blocks, readBody),
    topologyRoute(blocks),
    requestRoute(blocks, readBody, (caller, name) => can(caller, 'request', `$blocks.${name}`)),
    // A message's lineage walked back to the original (client tokens too: their grants cut it).
    traceRoute(o.engine),
    // A block version tried on a channel's history; `into` writes through the platform's publish
    // path, not the topology's counter, so replays never pass for the deployed block's writes.
    replayRoute({
      runner: blocks.runner,
      engine: o.engine,
      publish,
      writtenChannels: async (block) => blocks.topology.written(block).channels,
    }),
    ...(images?.routes ?? []),
    // The operator console's static files at /console/ (its data comes from the admin API).
    consoleRoute(),
    ...(o.routes ?? []),
  ];
  // Ready for traffic once the block folders run: until then the broker answers, but an upload or a
  // publish is not yet handled by the blocks a deployment expects (/healthz is about liveness only).
  let ready = false;
  let broker: Broker;
  try {
    broker = await startBroker({
      engine: o.engine,
      auth: o.auth,
      port: o.port ?? 7700,
      host: o.host ?? '127.0.0.1',
      publisher,
      routes,
      metrics: registry,
      ...(o.logger === undefined ? {} : { logger: o.logger }),
      ...o.broker,
      readiness: () => (ready ? { ready: true } : { ready: false, reason: 'loading blocks' }),
      links: { console: `${CONSOLE_PATH}/`, docs: DOCS_URL },
    });
  } catch (err) {
    await blocks.close();
    throw err;
  }
  // The folders' blocks run once the broker is up.
  try {
    await o.onListening?.(broker);
    await blocks.deployPrepared(prepared);
  } catch (err) {
    // The caller gets no node to close: release the port and the runner before failing.
    await blocks.close();
    await broker.close();
    throw err;
  }
  ready = true;
  return {
    broker,
    blocks,
    publisher,
    ...(images === undefined ? {} : { images }),
    async close() {
      await blocks.close();
      await broker.close();
    },
  };
}
