export { startBroker, WS_PATH } from './server.js';
export type { Broker } from './server.js';
export { createToken, authenticate, can, Actions } from './auth.js';
export type { Action, Grants, Principal, CreateTokenOptions } from './auth.js';
export {
  resolveBrokerOptions,
  DEFAULT_PORT,
  DEFAULT_HOST,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_MAX_SUBSCRIPTIONS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_IP,
  DEFAULT_PRESENCE_TTL_MS,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_HOPS,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_PONG_TIMEOUT_MS,
  DEFAULT_FRAME_TIMEOUT_MS,
} from './options.js';
export type { BrokerOptions, AuthOptions, ResolvedBrokerOptions, Readiness } from './options.js';
// Compatibility: the node, the reliability suite and examples/photo-board take these from the
// broker; they are @tributary/server's (the one HTTP contract), and new code imports them there.
export { json, readBody } from '@tributary/server';
export type { HttpRoute } from '@tributary/server';
export { INSECURE_PRINCIPAL } from './auth.js';
export { Publisher } from './publisher.js';
export { PLATFORM_CHANNEL_PREFIXES } from './publisher.js';
export type { PublishInterceptor, PublishRequest, InterceptResult, PublisherLimits, AppendObserver } from './publisher.js';
export { BrokerMetrics } from './metrics.js';
export { ChannelStats, DEFAULT_MAX_TRACKED_CHANNELS, RATE_WINDOW_SECONDS } from './channel-stats.js';
export type { ChannelActivity } from './channel-stats.js';
export { ADMIN_OVERVIEW_PATH, ADMIN_CHANNELS_PATH } from './admin.js';
export { traceRoute, traceMessage, TRACE_PATH, MAX_TRACE_STEPS } from './trace.js';
export type { TraceReply, TraceStep } from './trace.js';
export { mayReadChannel } from './lineage.js';
export type { ChannelRow } from './admin.js';
