import type { StreamEngine } from '@tributary/engine';
import type { Logger } from 'pino';
import type { Hub } from './hub.js';
import type { BrokerMetrics } from './metrics.js';
import type { ResolvedBrokerOptions } from './options.js';
import type { PresenceManager } from './presence.js';
import type { Publisher } from './publisher.js';
import type { Session } from './session.js';

/** Counters the broker keeps for /healthz, metrics and benchmarks. */
export interface BrokerCounters {
  published: number;
  badFrames: number;
  slowConsumers: number;
  refusedConnections: number;
}

/** What every part of one broker shares; built once by startBroker. */
export interface BrokerContext {
  options: ResolvedBrokerOptions;
  engine: StreamEngine;
  hub: Hub;
  presence: PresenceManager;
  publisher: Publisher;
  sessions: Set<Session>;
  metrics: BrokerCounters;
  prom: BrokerMetrics;
  log: Logger | undefined;
}
