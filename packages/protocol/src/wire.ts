/**
 * `@tributary/protocol/wire`: everything a client needs (frame types, codes, errors, channel rules)
 * without the JSON Schemas and their validator, which only servers use — so browser bundles do
 * not carry ajv.
 */
export { ErrorCodes, CloseCodes } from './codes.js';
export type { ErrorCode, CloseCode } from './codes.js';
export { CodedError, TributaryError, isTributaryError } from './errors.js';
export {
  MAX_CHANNEL_LENGTH,
  channelProblem,
  isValidChannel,
  isValidChannelOrPattern,
  isPattern,
  isSystemChannel,
  compilePattern,
  matchesPattern,
  patternCovers,
} from './channels.js';
export { PROTOCOL_VERSION } from './frames.js';
export { encodeEnvelope, decodeEnvelope, isTraceparent, parseTraceparent, formatTraceparent } from './lineage.js';
export type { Lineage, Envelope, TraceIds } from './lineage.js';
export type {
  JsonValue,
  RequestId,
  StreamPosition,
  ClientFrame,
  ClientFrameType,
  SubscribeFrame,
  UnsubscribeFrame,
  PublishFrame,
  HistoryFrame,
  PresenceFrame,
  PingFrame,
  AuthFrame,
  ServerFrame,
  WelcomeFrame,
  MessageFrame,
  SubscribedFrame,
  UnsubscribedFrame,
  AckFrame,
  HistoryMessage,
  HistoryResultFrame,
  PresenceMember,
  PresenceResultFrame,
  PresenceEventFrame,
  PongFrame,
  AuthOkFrame,
  ErrorFrame,
} from './frames.js';
