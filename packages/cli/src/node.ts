import { existsSync } from 'node:fs';
import { INSECURE_PRINCIPAL, Publisher, readBody, startBroker, type AuthOptions, type Broker, type HttpRoute } from '@tributary/broker';
import type { StreamEngine } from '@tributary/engine';
import { adminRoute, BlockNode, requestRoute, type HostModule, type PublishFn } from '@tributary/runtime';
import type { Logger } from 'pino';

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
  /** Extra options passed to the broker as-is. */
  broker?: { maxPayloadBytes?: number; nodeId?: string };
}

/** A running Tributary process. */
export interface TributaryNode {
  broker: Broker;
  blocks: BlockNode;
  close(): Promise<void>;
}

/**
 * Starts a broker with the blocks runtime wired in: before-publish blocks as the broker's
 * interceptor, block publishes through the broker's own publish path (same validation, hop limit),
 * and the block HTTP routes on the broker's port.
 */
export async function startNode(o: NodeOptions): Promise<TributaryNode> {
  let publisher: Publisher | undefined;
  const publish: PublishFn = async (channel, data, opts) => {
    if (publisher === undefined) throw new Error('broker not started');
    const req: Parameters<Publisher['publish']>[0] = { channel, data, hops: opts.hops, principal: INSECURE_PRINCIPAL };
    if (opts.msgId !== undefined) req.msgId = opts.msgId;
    return publisher.publish(req);
  };
  const runnerOptions: Parameters<typeof BlockNode.start>[0] = {
    engine: o.engine,
    publish,
    dirs: [],
    secrets: o.secrets ?? {},
    modules: o.modules ?? {},
  };
  if (o.logger !== undefined) runnerOptions.logger = o.logger;
  if (o.claimIdleMs !== undefined) runnerOptions.claimIdleMs = o.claimIdleMs;
  const blocks = await BlockNode.start(runnerOptions);
  const routes: HttpRoute[] = [adminRoute(blocks, readBody), requestRoute(blocks, readBody)];
  let broker: Broker;
  try {
    broker = await startBroker({
      engine: o.engine,
      auth: o.auth,
      port: o.port ?? 7700,
      host: o.host ?? '127.0.0.1',
      interceptors: [blocks.runner.interceptor],
      routes,
      ...(o.logger === undefined ? {} : { logger: o.logger }),
      ...o.broker,
    });
  } catch (err) {
    await blocks.close();
    throw err;
  }
  publisher = broker.context.publisher;
  // Folders load after the broker is up: their blocks may publish on deploy-time ticks.
  for (const dir of o.blockDirs ?? []) {
    if (existsSync(dir)) await blocks.loadDir(dir);
  }
  return {
    broker,
    blocks,
    async close() {
      await blocks.close();
      await broker.close();
    },
  };
}
