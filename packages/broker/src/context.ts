import type { StreamEngine } from '@tributary/engine';
import type { Logger } from 'pino';
import type { Corker } from './corker.js';
import type { Hub } from './hub.js';
import type { ChannelStats } from './channel-stats.js';
import type { BrokerMetrics } from './metrics.js';
import type { ResolvedBrokerOptions } from './options.js';
import type { PresenceManager } from './presence.js';
import type { Publisher } from './publisher.js';

/**
 * What the broker does with its connections from outside them: count them and close them all.
 * (Sessions read the context; the context does not need to know what a session is.)
 */
export interface SessionHandle {
  close(code: number, reason: string): void;
}

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
  sessions: Set<SessionHandle>;
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
