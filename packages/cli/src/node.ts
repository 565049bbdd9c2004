import { existsSync } from 'node:fs';
import { can, INSECURE_PRINCIPAL, Publisher, readBody, startBroker, type AuthOptions, type Broker, type BrokerMetrics, type HttpRoute, type Principal } from '@tributary/broker';
import { consoleRoute } from '@tributary/console';
import type { StreamEngine } from '@tributary/engine';
import { createImages, type Images, type ImagesOptions } from '@tributary/images';
import { INSECURE_IMAGE_SECRET } from './image-keys.js';
import { adminRoute, BlockNode, requestRoute, type HostModule, type PreparedBlock, type PublishFn, type RunnerPoolOptions } from '@tributary/runtime';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';

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
  /** The images capability, when `images` was given. */
  images?: Images;
  close(): Promise<void>;
}

/**
 * Starts a broker with the blocks runtime wired in: before-publish blocks as the broker's
 * interceptor, block publishes through the broker's own publish path (same validation, hop limit),
 * and the block HTTP routes on the broker's port.
 */
export async function startNode(o: NodeOptions): Promise<TributaryNode> {
  let publisher: Publisher | undefined;
  // Blocks stored in the engine run as soon as the runtime starts, before the broker does: their
  // first publishes wait for it instead of failing an attempt.
  let brokerUp!: (p: Publisher) => void;
  let brokerFailed!: (err: Error) => void;
  const started = new Promise<Publisher>((resolve, reject) => {
    brokerUp = resolve;
    brokerFailed = reject;
  });
  started.catch(() => {});
  const publish: PublishFn = async (channel, data, opts) => {
    const p = publisher ?? (await started);
    const req: Parameters<Publisher['publish']>[0] = { channel, data, hops: opts.hops, principal: INSECURE_PRINCIPAL };
    if (opts.msgId !== undefined) req.msgId = opts.msgId;
    const r = await p.publish(req);
    metrics?.messagesIn.inc({ transport: 'block' });
    return r;
  };
  // One Prometheus registry for the broker, the blocks runtime and images: one /metrics page.
  const registry = new Registry();
  let metrics: BrokerMetrics | undefined;
  let images: Images | undefined;
  if (o.images !== undefined) {
    // Insecure mode has no secret: image URLs are signed with the fixed development key, which
    // `tributary image-url --insecure` signs with too.
    const secret = o.auth.insecure === true ? INSECURE_IMAGE_SECRET : o.auth.secret;
    images = createImages({
      secret,
      can: (p, action, channel) => can(p as Principal, action, channel),
      ...o.images,
      engine: o.images.engine ?? o.engine,
    });
  }
  const runnerOptions: Parameters<typeof BlockNode.start>[0] = {
    engine: o.engine,
    publish,
    dirs: [],
    secrets: o.secrets ?? {},
    modules: images === undefined ? o.modules ?? {} : { images: images.module, ...o.modules },
  };
  if (o.logger !== undefined) runnerOptions.logger = o.logger;
  if (o.claimIdleMs !== undefined) runnerOptions.claimIdleMs = o.claimIdleMs;
  if (o.runners !== undefined) runnerOptions.runners = o.runners;
  // Blocks' publishes and results are measured against the broker's own limit, not the default.
  if (o.broker?.maxPayloadBytes !== undefined) runnerOptions.maxPayloadBytes = o.broker.maxPayloadBytes;
  runnerOptions.metrics = registry;
  const blocks = await BlockNode.start(runnerOptions);
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
    brokerFailed(new Error('broker not started', { cause: err }));
    await blocks.close();
    throw err;
  }
  const routes: HttpRoute[] = [adminRoute(blocks, readBody), requestRoute(blocks, readBody, (caller, name) => can(caller as Principal, 'request', `$blocks.${name}`)), ...(images?.routes ?? []),
    // The operator console's static files at /console/ (its data comes from the admin API).
    consoleRoute(), ...(o.routes ?? [])];
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
      interceptors: [blocks.runner.interceptor],
      routes,
      metrics: registry,
      ...(o.logger === undefined ? {} : { logger: o.logger }),
      ...o.broker,
      readiness: () => (ready ? { ready: true } : { ready: false, reason: 'loading blocks' }),
    });
  } catch (err) {
    brokerFailed(new Error('broker not started', { cause: err }));
    await blocks.close();
    throw err;
  }
  publisher = broker.context.publisher;
  brokerUp(publisher);
  metrics = broker.context.prom;
  // The folders' blocks run once the broker is up, as they publish through it.
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
    ...(images === undefined ? {} : { images }),
    async close() {
      await blocks.close();
      await broker.close();
    },
  };
}
