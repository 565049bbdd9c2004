import { createHash, randomUUID } from 'node:crypto';
import type { JsonValue } from '@tributary/protocol';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * An MQTT payload as Tributary data: JSON as it is; other UTF-8 text as `{ "text": … }`; anything
 * else (binary) as `{ "base64": … }`. An empty payload is `{ "text": "" }`.
 */
export function payloadToData(payload: Uint8Array): JsonValue {
  let text: string;
  try {
    text = strictUtf8.decode(payload);
  } catch {
    return { base64: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('base64') };
  }
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return { text };
  }
}

/** Tributary data as an MQTT payload: its JSON text. */
export function dataToPayload(data: JsonValue): Buffer {
  return Buffer.from(JSON.stringify(data), 'utf8');
}

/** Prefix of the msgId of every message the bridge publishes to Tributary (and so never bridges back). */
export const MQTT_MSGID_PREFIX = 'mqtt:';
const MAX_MSGID = 128;

/** What identifies one MQTT delivery to the bridge. */
export interface DeliveryId {
  /** The bridge's MQTT client id (its session). */
  clientId: string;
  topic: string;
  payload: Uint8Array;
  qos: number;
  /** The packet identifier (QoS ≥ 1). */
  messageId?: number;
  /** The publisher's own id, from the MQTT 5 user property `msgId`. */
  publisherMsgId?: string;
}

/**
 * The msgId a bridged message is published with. A publisher's own `msgId` user property wins (an
 * end-to-end idempotency key). Otherwise, for QoS ≥ 1, a hash of the session, packet identifier,
 * topic and payload: a redelivery after the bridge restarted before its PUBACK carries the same
 * packet identifier, so it maps to the same msgId and the broker stores it once. QoS 0 is never
 * redelivered: a random id.
 */
export function msgIdFor(d: DeliveryId): string {
  if (d.publisherMsgId !== undefined && d.publisherMsgId !== '') {
    const id = MQTT_MSGID_PREFIX + 'p:' + d.publisherMsgId;
    return id.length <= MAX_MSGID ? id : MQTT_MSGID_PREFIX + 'p#' + sha(d.publisherMsgId);
  }
  if (d.qos === 0 || d.messageId === undefined) return MQTT_MSGID_PREFIX + 'r:' + randomUUID();
  const h = createHash('sha256');
  h.update(d.clientId).update('\0').update(String(d.messageId)).update('\0').update(d.topic).update('\0').update(d.payload);
  return MQTT_MSGID_PREFIX + h.digest('base64url').slice(0, 32);
}

function sha(s: string): string {
  return createHash('sha256').update(s).digest('base64url').slice(0, 43);
}
