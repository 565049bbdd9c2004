/**
 * `@tributary/client`: the Tributary client for Node and browsers. It depends on
 * `@tributary/protocol` only; in Node without a global WebSocket it loads the optional `ws` peer.
 */
export { TributaryClient } from './client.js';
export {
  resolveClientOptions,
  DEFAULT_RECONNECT_MIN_DELAY_MS,
  DEFAULT_RECONNECT_MAX_DELAY_MS,
  DEFAULT_RECONNECT_FACTOR,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_WS_PATH,
} from './options.js';
export type { ClientOptions, ReconnectOptions, ResolvedClientOptions, TokenSource } from './options.js';
export type { WebSocketConstructor, WebSocketLike } from './transport.js';
export type {
  ClientEvents,
  ConnectionState,
  HistoryOptions,
  HistoryResult,
  Message,
  PresenceEvent,
  PublishAck,
  PublishOptions,
  RecoveryInfo,
  SubscribeOptions,
  Subscription,
} from './types.js';
// Re-exported so callers can branch on codes without a second import.
export { TributaryError, isTributaryError, ErrorCodes, CloseCodes } from '@tributary/protocol/wire';
export type { ErrorCode, JsonValue, Lineage, StreamPosition, PresenceMember } from '@tributary/protocol/wire';
