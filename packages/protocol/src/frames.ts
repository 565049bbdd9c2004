import type { Lineage } from './lineage.js';
import type { ErrorCode } from './codes.js';

/** Protocol version spoken by this package; sent in the `welcome` frame. See docs/PROTOCOL.md. */
export const PROTOCOL_VERSION = 1;

/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A request correlation id chosen by the client and echoed in the reply. */
export type RequestId = string | number;

/**
 * A position in a channel's log: the offset of the last message seen and the epoch it belongs to.
 * Offsets start at 1 and grow by one per message; the epoch changes when the history is reset.
 */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

// ---------------------------------------------------------------- client → server

/** Subscribe to a channel or pattern; with `since`, replay what was missed first. */
export interface SubscribeFrame {
  type: 'subscribe';
  id?: RequestId;
  channel: string;
  /** Resume after this position (exact channels only). */
  since?: StreamPosition;
  /** Also receive presence join/leave events for the channel, and announce this client. */
  presence?: boolean;
}

export interface UnsubscribeFrame {
  type: 'unsubscribe';
  id?: RequestId;
  channel: string;
}

export interface PublishFrame {
  type: 'publish';
  id?: RequestId;
  channel: string;
  data: JsonValue;
  /** Client message id: a retried publish with the same id within the dedup window is stored once. */
  msgId?: string;
  /**
   * W3C trace context of the message (https://www.w3.org/TR/trace-context/): stored in its envelope,
   * delivered with it and carried on by the blocks it triggers. An invalid one is `INVALID_FRAME`.
   */
  traceparent?: string;
}

export interface HistoryFrame {
  type: 'history';
  id?: RequestId;
  channel: string;
  /** Return messages after this offset (exclusive); without it, the latest `limit` messages. */
  since?: number;
  limit?: number;
}

export interface PresenceFrame {
  type: 'presence';
  id?: RequestId;
  channel: string;
}

export interface PingFrame {
  type: 'ping';
  id?: RequestId;
}

/** Replace the connection's credentials (e.g. before the current token expires). */
export interface AuthFrame {
  type: 'auth';
  id?: RequestId;
  token: string;
}

/** Every frame a client may send. */
export type ClientFrame = SubscribeFrame | UnsubscribeFrame | PublishFrame | HistoryFrame | PresenceFrame | PingFrame | AuthFrame;

/** The `type` of every client frame. */
export type ClientFrameType = ClientFrame['type'];

// ---------------------------------------------------------------- server → client

export interface WelcomeFrame {
  type: 'welcome';
  version: number;
  clientId: string;
  node: string;
  /** Largest accepted `data`, in bytes of its JSON encoding. */
  maxPayloadBytes: number;
  /** When the connection's token expires (ms since the Unix epoch); absent without expiry. */
  expiresAt?: number;
}

/** A message on a channel the client subscribed to (directly or through `sub`, a pattern). */
export interface MessageFrame {
  type: 'message';
  channel: string;
  offset: number;
  epoch: string;
  /** Milliseconds since the Unix epoch, stamped by the engine when the message was stored. */
  time: number;
  data: JsonValue;
  msgId?: string;
  /** The pattern subscription this message arrived through, when it was not an exact one. */
  sub?: string;
  /**
   * Set on messages a block published: the input message and the block version. Present only
   * when the receiver may read the input's channel (a `subscribe` or `history` grant on it).
   */
  lineage?: Lineage;
  /** The message's W3C trace context, when its publisher (or the block that published it) gave one. */
  traceparent?: string;
}

export interface SubscribedFrame {
  type: 'subscribed';
  id?: RequestId;
  channel: string;
  pattern: boolean;
  /** Current epoch and latest offset (0 when empty); absent for patterns. */
  epoch?: string;
  offset?: number;
  /**
   * Present when the subscribe had `since`: true when every message after it will be replayed,
   * false when some are gone (trimmed, or the epoch changed) and delivery starts from the current
   * position instead.
   */
  recovered?: boolean;
}

export interface UnsubscribedFrame {
  type: 'unsubscribed';
  id?: RequestId;
  channel: string;
}

export interface AckFrame {
  type: 'ack';
  id?: RequestId;
  channel: string;
  offset: number;
  epoch: string;
  /** True when `msgId` matched an earlier publish: nothing new was stored. */
  duplicate: boolean;
}

/** A stored message as returned by history. */
export interface HistoryMessage {
  offset: number;
  time: number;
  data: JsonValue;
  msgId?: string;
  /** As in {@link MessageFrame.lineage}: only where the reader may read the input's channel. */
  lineage?: Lineage;
  traceparent?: string;
}

export interface HistoryResultFrame {
  type: 'history';
  id?: RequestId;
  channel: string;
  epoch: string;
  /** Oldest retained offset (last + 1 when the log is empty). */
  first: number;
  /** Latest offset (0 when nothing was ever published in this epoch). */
  last: number;
  messages: HistoryMessage[];
}

/** A client present on a channel. */
export interface PresenceMember {
  clientId: string;
  /** The token's subject, when the client authenticated with one. */
  user?: string;
  node: string;
  /** Milliseconds since the Unix epoch. */
  since: number;
}

export interface PresenceResultFrame {
  type: 'presence';
  id?: RequestId;
  channel: string;
  members: PresenceMember[];
}

export interface PresenceEventFrame {
  type: 'join' | 'leave';
  channel: string;
  member: PresenceMember;
}

export interface PongFrame {
  type: 'pong';
  id?: RequestId;
  /** Server time, ms since the Unix epoch. */
  time: number;
}

export interface AuthOkFrame {
  type: 'authed';
  id?: RequestId;
  /** Token expiry, ms since the Unix epoch, when the token has one. */
  expiresAt?: number;
}

export interface ErrorFrame {
  type: 'error';
  /** The `id` of the request that failed, when it had one and could be read. */
  id?: RequestId;
  code: ErrorCode;
  message: string;
  channel?: string;
}

/** Every frame a server may send. */
export type ServerFrame =
  | WelcomeFrame
  | MessageFrame
  | SubscribedFrame
  | UnsubscribedFrame
  | AckFrame
  | HistoryResultFrame
  | PresenceResultFrame
  | PresenceEventFrame
  | PongFrame
  | AuthOkFrame
  | ErrorFrame;
