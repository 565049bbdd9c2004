import { ErrorCodes, isTraceparent, TributaryError, type HistoryFrame, type JsonValue, type PublishFrame } from '@tributary/protocol/wire';
import { checkChannel, tooLarge } from './errors.js';
import { randomMsgId } from './ids.js';
import type { Reply } from './requests.js';
import type { HistoryOptions, HistoryResult, Message, PublishOptions } from './types.js';

const MAX_MSG_ID_LENGTH = 128;
const encoder = new TextEncoder();

/** A publish ready to send: its frame (with the `msgId` it will keep across resends) and the size of its `data`. */
export interface PreparedPublish {
  frame: PublishFrame & { msgId: string };
  bytes: number;
}

/**
 * Checks a publish the way the broker would (channel, `msgId`, JSON `data` within `limit` bytes
 * when known), so a bad one fails at once; returns the error instead of throwing.
 */
export function preparePublish(
  channel: string,
  data: JsonValue,
  options: PublishOptions,
  limit: number | undefined,
): PreparedPublish | TributaryError {
  const bad = checkChannel(channel, false);
  if (bad !== undefined) return bad;
  const msgId = options.msgId ?? randomMsgId();
  if (typeof msgId !== 'string' || msgId.length === 0 || msgId.length > MAX_MSG_ID_LENGTH) {
    return new TributaryError(ErrorCodes.INVALID_FRAME, `msgId must be 1–${MAX_MSG_ID_LENGTH} characters`, { channel });
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (err) {
    return new TributaryError(ErrorCodes.INVALID_FRAME, 'data is not serialisable as JSON', { channel, cause: err });
  }
  if (json === undefined) {
    return new TributaryError(ErrorCodes.INVALID_FRAME, 'data must be a JSON value', { channel });
  }
  if (options.traceparent !== undefined && !isTraceparent(options.traceparent)) {
    return new TributaryError(ErrorCodes.INVALID_FRAME, 'traceparent is not a valid W3C traceparent', { channel });
  }
  const bytes = encoder.encode(json).byteLength;
  if (limit !== undefined && bytes > limit) return tooLarge(channel, bytes, limit);
  const frame: PreparedPublish['frame'] = { type: 'publish', channel, data, msgId };
  if (options.traceparent !== undefined) frame.traceparent = options.traceparent;
  return { frame, bytes };
}

/** Checks a history request's options; returns the frame, or the error instead of throwing. */
export function historyFrame(channel: string, options: HistoryOptions): HistoryFrame | TributaryError {
  const bad = checkChannel(channel, false);
  if (bad !== undefined) return bad;
  const frame: HistoryFrame = { type: 'history', channel };
  if (options.since !== undefined) {
    if (!Number.isSafeInteger(options.since) || options.since < 0) {
      return new TributaryError(ErrorCodes.INVALID_FRAME, 'since must be an integer ≥ 0', { channel });
    }
    frame.since = options.since;
  }
  if (options.limit !== undefined) {
    if (!Number.isSafeInteger(options.limit) || options.limit < 1 || options.limit > 1000) {
      return new TributaryError(ErrorCodes.INVALID_FRAME, 'limit must be an integer from 1 to 1000', { channel });
    }
    frame.limit = options.limit;
  }
  return frame;
}

/** The history reply as callers see it: each stored message as a {@link Message}. */
export function toHistoryResult<T>(r: Reply<'history'>): HistoryResult<T> {
  return {
    channel: r.channel,
    epoch: r.epoch,
    first: r.first,
    last: r.last,
    messages: r.messages.map((m) => {
      const msg: Message<T> = { channel: r.channel, offset: m.offset, epoch: r.epoch, time: m.time, data: m.data as T };
      if (m.msgId !== undefined) msg.msgId = m.msgId;
      if (m.lineage !== undefined) msg.lineage = m.lineage;
      if (m.traceparent !== undefined) msg.traceparent = m.traceparent;
      return msg;
    }),
  };
}
