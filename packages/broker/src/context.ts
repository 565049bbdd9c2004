import type { StreamEngine } from '@tributary/engine';
import type { Logger } from 'pino';
import type { Corker } from './corker.js';
import type { Hub } from './hub.js';
import type { ChannelStats } from './channel-stats.js';
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
  /** Batches socket writes per event-loop turn. */
  corker: Corker;
  metrics: BrokerCounters;
  prom: BrokerMetrics;
  log: Logger | undefined;
  /** Per-channel rates of messages stored through this node (admin API). */
  channelStats: ChannelStats;
  /** When this broker started (ms since the Unix epoch). */
  startedAt: number;
}
