import type { JsonValue, Lineage, PresenceMember, StreamPosition, TributaryError } from '@tributary/protocol/wire';

/** Where the client's connection stands. */
export type ConnectionState =
  /** Created; {@link TributaryClient.connect} not called yet (or the first attempt failed). */
  | 'idle'
  /** A connection attempt is under way. */
  | 'connecting'
  /** Welcomed by the broker: requests flow. */
  | 'connected'
  /** Lost the connection; waiting for the next attempt (or for `connect()` when reconnect is off). */
  | 'disconnected'
  /** {@link TributaryClient.close} was called; final. */
  | 'closed';

/** A message delivered to a subscription. */
export interface Message<T = JsonValue> {
  channel: string;
  /** Position in the channel's log (1, 2, 3, … within an epoch). */
  offset: number;
  epoch: string;
  /** Milliseconds since the Unix epoch, stamped when the broker stored the message. */
  time: number;
  data: T;
  /** The publisher's message id, when it had one (this client always sends one). */
  msgId?: string;
  /** The pattern subscription the message arrived through, when it was not an exact one. */
  pattern?: string;
  /**
   * For a message a block published: the input message it handled and the block version. The
   * broker sends it only when this client may read the input's channel (docs/PROTOCOL.md).
   */
  lineage?: Lineage;
  /** The message's W3C trace context, when its publisher or the block that published it gave one. */
  traceparent?: string;
}

/** The broker's acknowledgement of a publish. */
export interface PublishAck {
  channel: string;
  offset: number;
  epoch: string;
  /** True when the broker had already stored this `msgId`: nothing new was stored (a retry). */
  duplicate: boolean;
  /** The message id the publish carried (generated unless given). */
  msgId: string;
}

/** Options of {@link TributaryClient.publish}. */
export interface PublishOptions {
  /**
   * Idempotency key: a publish repeated with the same id within the broker's dedup window (default
   * 2 minutes) is stored once. Pass your own to retry safely after a `TIMEOUT`.
   * @defaultValue a random UUID
   */
  msgId?: string;
  /**
   * W3C trace context to store with the message (https://www.w3.org/TR/trace-context/): blocks
   * carry it on to what they publish, and spans join the publisher's trace.
   * @defaultValue none
   */
  traceparent?: string;
}

/** What a subscription learns when it (re)subscribes from a known position. */
export interface RecoveryInfo {
  channel: string;
  /** Whether the subscription is a pattern (patterns are live-only: always `recovered: false` after a reconnect). */
  pattern: boolean;
  /**
   * True when every message after the last one seen will be delivered; false when some are gone
   * (trimmed by retention, history reset, or a pattern subscription's gap) and delivery resumes
   * from the current position.
   */
  recovered: boolean;
  /** The position delivery continues after (undefined for patterns). */
  position: StreamPosition | undefined;
  /** True when this follows a reconnect, false for the first subscribe with `since`. */
  resubscribed: boolean;
}

/** A presence change on a channel subscribed with `presence: true`. */
export interface PresenceEvent {
  type: 'join' | 'leave';
  channel: string;
  member: PresenceMember;
}

/** Options of {@link TributaryClient.subscribe}. */
export interface SubscribeOptions {
  /**
   * Resume after this position (exclusive): missed messages are delivered first, in order. Exact
   * channels only; patterns are live-only.
   */
  since?: StreamPosition;
  /** Announce this client on the channel and receive join/leave events (needs the `presence` grant). */
  presence?: boolean;
  /** Called when the subscription resumes from a position: after `since`, and after every reconnect. */
  onRecovery?: (info: RecoveryInfo) => void;
  /** Called on join/leave events when `presence` is true. */
  onPresence?: (event: PresenceEvent) => void;
  /** Called when the subscription ends because the broker refused to re-subscribe it (e.g. `FORBIDDEN`). */
  onError?: (error: TributaryError) => void;
}

/** A live subscription. */
export interface Subscription {
  readonly channel: string;
  /** True for a pattern (`sensors.*`, `sensors.>`). */
  readonly pattern: boolean;
  /**
   * The last position delivered (or, before the first message, where delivery starts); what the
   * client resumes from after a reconnect. Undefined for patterns.
   */
  readonly position: StreamPosition | undefined;
  /** True while the broker has confirmed the subscription on the current connection. */
  readonly active: boolean;
  /** True once unsubscribed, or ended by the client's close or a refused re-subscribe. */
  readonly closed: boolean;
  /** Stops delivery and tells the broker. Resolves at once when disconnected. */
  unsubscribe(): Promise<void>;
}

/** The result of {@link TributaryClient.history}. */
export interface HistoryResult<T = JsonValue> {
  channel: string;
  epoch: string;
  /** Oldest retained offset (`last + 1` when none is retained). */
  first: number;
  /** Latest offset (0 when nothing was stored in this epoch). */
  last: number;
  messages: Array<Message<T>>;
}

/** Options of {@link TributaryClient.history}. */
export interface HistoryOptions {
  /** Return messages after this offset (exclusive); without it, the latest `limit`. */
  since?: number;
  /**
   * At most this many messages (1–1000).
   * @defaultValue 100 (the broker's default)
   */
  limit?: number;
}

/** Events of {@link TributaryClient}. */
export interface ClientEvents {
  /** The connection state changed. */
  state: { state: ConnectionState; previous: ConnectionState };
  /** The broker welcomed a connection. */
  connected: { clientId: string; node: string; maxPayloadBytes: number; reconnected: boolean };
  /** A welcomed connection was lost. */
  disconnected: { code: number; reason: string; willReconnect: boolean; error: TributaryError | undefined };
  /**
   * Something went wrong outside a request: credentials refused (`UNAUTHORIZED`, `TOKEN_EXPIRED`),
   * the token function failed, a re-subscribe was refused, an unsolicited broker error, or a
   * subscription handler threw (`INTERNAL`, with the thrown value as `cause`).
   */
  error: TributaryError;
  /** A subscription resumed from a position; see {@link RecoveryInfo}. */
  recovery: RecoveryInfo;
  /** A join/leave on a channel subscribed with `presence: true`. */
  presence: PresenceEvent;
}
