/**
 * Error codes carried by `error` frames, HTTP error bodies and {@link TributaryError}.
 * Callers branch on these, never on message text.
 */
export const ErrorCodes = {
  /** The frame was not valid JSON (or not valid UTF-8). */
  BAD_JSON: 'BAD_JSON',
  /** The frame was JSON but not a frame this protocol version knows (`type` missing or unknown). */
  UNKNOWN_TYPE: 'UNKNOWN_TYPE',
  /** A known frame type with missing or ill-typed fields. */
  INVALID_FRAME: 'INVALID_FRAME',
  /** The message payload is larger than the broker's `maxPayloadBytes`. */
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** A channel name or pattern does not follow the naming rules. */
  INVALID_CHANNEL: 'INVALID_CHANNEL',
  /** No credentials, or credentials that do not verify (bad signature, malformed token). */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** The token verified but its `exp` has passed. */
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  /** The credentials are valid but carry no grant for this action on this channel. */
  FORBIDDEN: 'FORBIDDEN',
  /** `unsubscribe` for a channel this connection is not subscribed to. */
  NOT_SUBSCRIBED: 'NOT_SUBSCRIBED',
  /** `subscribe` for a channel or pattern this connection is already subscribed to. */
  ALREADY_SUBSCRIBED: 'ALREADY_SUBSCRIBED',
  /** A per-connection limit (subscriptions, in-flight requests) was reached. */
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  /** Too many requests in a short time. */
  RATE_LIMITED: 'RATE_LIMITED',
  /** A message exceeded the composition hop limit (a block loop). */
  HOP_LIMIT: 'HOP_LIMIT',
  /** A before-publish block rejected the message. */
  REJECTED: 'REJECTED',
  /** The resource does not exist (HTTP routes). */
  NOT_FOUND: 'NOT_FOUND',
  /** The storage engine is unreachable; the request did not take effect and may be retried. */
  UNAVAILABLE: 'UNAVAILABLE',
  /** The request did not complete in time; it may or may not have taken effect. */
  TIMEOUT: 'TIMEOUT',
  /** The client or connection was closed before the request completed. */
  CLOSED: 'CLOSED',
  /** A state-changing HTTP request whose body is not declared `application/json`. */
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  /** The request came from a web page whose origin (or a Host) this broker does not serve. */
  FORBIDDEN_ORIGIN: 'FORBIDDEN_ORIGIN',
  /** A bug on the server; details are in the server log. */
  INTERNAL: 'INTERNAL',
} as const;

/** Union of every error code. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * WebSocket close codes the broker uses (4000–4999 is the range RFC 6455 leaves to applications).
 * 1009 (message too big) is sent by the WebSocket layer itself for frames over the hard frame cap.
 */
export const CloseCodes = {
  /** Normal closure. */
  NORMAL: 1000,
  /** The broker is shutting down; reconnect (to another node). */
  GOING_AWAY: 1001,
  /** A frame was larger than the hard frame cap and could not even be read. */
  MESSAGE_TOO_BIG: 1009,
  /** A bug on the broker ended this connection (logged and counted); reconnect and resume. */
  INTERNAL_ERROR: 1011,
  /** Authentication failed or the token expired; reconnect with a fresh token. */
  UNAUTHORIZED: 4001,
  /** The client did not read fast enough and its outgoing queue overflowed; reconnect and resume. */
  SLOW_CONSUMER: 4008,
  /** The server's connection limit (total or per address) was reached. */
  TOO_MANY_CONNECTIONS: 4029,
} as const;

/** Union of every close code. */
export type CloseCode = (typeof CloseCodes)[keyof typeof CloseCodes];
