import type { JsonValue } from '@tributary/protocol';

/** A stored (or about-to-be-stored) message as a block's handler receives it. */
export interface MessageFields {
  channel: string;
  offset: number;
  epoch: string;
  time: number;
  data: JsonValue | unknown;
  msgId?: string | undefined;
  hops?: number | undefined;
}

/**
 * The one place the handler's message record is built (after-publish deliveries, before-publish
 * checks and dead-letter replays): `msgId` only when there is one, `hops` always.
 */
export function messageInput(m: MessageFields): Record<string, unknown> {
  const input: Record<string, unknown> = {
    channel: m.channel,
    offset: m.offset,
    epoch: m.epoch,
    time: m.time,
    data: m.data,
    hops: m.hops ?? 0,
  };
  if (m.msgId !== undefined) input.msgId = m.msgId;
  return input;
}
