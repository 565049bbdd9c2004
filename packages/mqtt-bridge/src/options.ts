import type { TokenSource } from '@tributary/client';
import { createMapping, topicProblem, type Mapping } from './mapping.js';

/** Default MQTT client id: fixed, so a restarted bridge resumes its session (and its un-acked messages). */
export const DEFAULT_MQTT_CLIENT_ID = 'tributary-bridge';
/** Default MQTT session expiry, seconds: how long Mosquitto keeps messages for a stopped bridge. */
export const DEFAULT_SESSION_EXPIRY_SECONDS = 3600;
/** Default delay between MQTT reconnection attempts, ms. */
export const DEFAULT_MQTT_RECONNECT_MS = 1000;
/** Default time `startMqttBridge` waits for both first connections, ms. */
export const DEFAULT_START_TIMEOUT_MS = 30_000;
/** Default first and longest delay between retries of a Tributary publish that failed transiently, ms. */
export const DEFAULT_RETRY_MIN_MS = 250;
export const DEFAULT_RETRY_MAX_MS = 5000;
/** MQTT 5 user property the bridge puts on what it publishes; MQTT messages carrying it are not bridged back. */
export const BRIDGE_PROPERTY = 'tributary-bridge';

/** Options of {@link startMqttBridge}. */
export interface MqttBridgeOptions {
  mqtt: {
    /** `mqtt://host:1883` (also `mqtts://`, `ws://`). */
    url: string;
    /** @defaultValue {@link DEFAULT_MQTT_CLIENT_ID}; run each bridge with its own id. */
    clientId?: string;
    username?: string;
    password?: string;
    /** @defaultValue {@link DEFAULT_SESSION_EXPIRY_SECONDS} */
    sessionExpirySeconds?: number;
    /** @defaultValue {@link DEFAULT_MQTT_RECONNECT_MS} */
    reconnectPeriodMs?: number;
  };
  tributary: {
    /** `http://host:7700` or `ws://host:7700/v1/ws`. */
    url: string;
    /** A token (or a function returning one) with publish on the mapped channels and subscribe on `toMqtt`; none for an insecure broker. */
    token?: TokenSource;
  };
  /** MQTT topic filters to bridge into Tributary (`sensors/#`); each must lie under `topicPrefix`. @defaultValue `[]` */
  fromMqtt?: string[];
  /** Channels or patterns to bridge out to MQTT (`alerts.>`); each must lie under `channelPrefix`. @defaultValue `[]` */
  toMqtt?: string[];
  /** See {@link MappingOptions.topicPrefix}. @defaultValue `''` */
  topicPrefix?: string;
  /** See {@link MappingOptions.channelPrefix}. @defaultValue `''` */
  channelPrefix?: string;
  /** QoS of the bridge's MQTT subscriptions and publishes. @defaultValue 1 */
  qos?: 0 | 1;
  /** Value of the {@link BRIDGE_PROPERTY} user property. @defaultValue the MQTT client id */
  bridgeId?: string;
  /** @defaultValue {@link DEFAULT_START_TIMEOUT_MS} */
  startTimeoutMs?: number;
  /** Backoff of retried Tributary publishes. @defaultValue `{ minMs: 250, maxMs: 5000 }` */
  retry?: { minMs?: number; maxMs?: number };
}

/** {@link MqttBridgeOptions} with every default filled in and checked. */
export interface ResolvedMqttBridgeOptions {
  mqtt: { url: string; clientId: string; username?: string; password?: string; sessionExpirySeconds: number; reconnectPeriodMs: number };
  tributary: { url: string; token?: TokenSource };
  fromMqtt: string[];
  toMqtt: string[];
  mapping: Mapping;
  qos: 0 | 1;
  bridgeId: string;
  startTimeoutMs: number;
  retry: { minMs: number; maxMs: number };
}

/** Validates options once, at the boundary; a mistake throws a `TypeError` naming the field. */
export function resolveMqttBridgeOptions(o: MqttBridgeOptions): ResolvedMqttBridgeOptions {
  const str = (v: unknown, field: string): string => {
    if (typeof v !== 'string' || v === '') throw new TypeError(`${field} must be a non-empty string`);
    return v;
  };
  const num = (v: unknown, def: number, field: string, min: number): number => {
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min)
      throw new TypeError(`${field} must be a number ≥ ${min}, got ${String(v)}`);
    return v;
  };
  if (typeof o !== 'object' || o === null) throw new TypeError('options must be an object');
  if (typeof o.mqtt !== 'object' || o.mqtt === null) throw new TypeError('mqtt must be an object');
  if (typeof o.tributary !== 'object' || o.tributary === null) throw new TypeError('tributary must be an object');
  const clientId = o.mqtt.clientId === undefined ? DEFAULT_MQTT_CLIENT_ID : str(o.mqtt.clientId, 'mqtt.clientId');
  const mqtt: ResolvedMqttBridgeOptions['mqtt'] = {
    url: str(o.mqtt.url, 'mqtt.url'),
    clientId,
    sessionExpirySeconds: num(o.mqtt.sessionExpirySeconds, DEFAULT_SESSION_EXPIRY_SECONDS, 'mqtt.sessionExpirySeconds', 0),
    reconnectPeriodMs: num(o.mqtt.reconnectPeriodMs, DEFAULT_MQTT_RECONNECT_MS, 'mqtt.reconnectPeriodMs', 1),
  };
  if (o.mqtt.username !== undefined) mqtt.username = str(o.mqtt.username, 'mqtt.username');
  if (o.mqtt.password !== undefined) mqtt.password = o.mqtt.password;
  const tributary: ResolvedMqttBridgeOptions['tributary'] = { url: str(o.tributary.url, 'tributary.url') };
  if (o.tributary.token !== undefined) tributary.token = o.tributary.token;

  let mapping: Mapping;
  try {
    mapping = createMapping({ topicPrefix: o.topicPrefix ?? '', channelPrefix: o.channelPrefix ?? '' });
  } catch (err) {
    throw new TypeError((err as Error).message);
  }
  const fromMqtt = [...(o.fromMqtt ?? [])];
  for (const [i, f] of fromMqtt.entries()) {
    const p = typeof f === 'string' ? topicProblem(f, true) : 'not a string';
    if (p !== undefined) throw new TypeError(`fromMqtt[${i}] ${JSON.stringify(f)}: ${p}`);
    try {
      mapping.filterToPattern(f);
    } catch (err) {
      throw new TypeError(`fromMqtt[${i}]: ${(err as Error).message}`);
    }
  }
  const toMqtt = [...(o.toMqtt ?? [])];
  for (const [i, c] of toMqtt.entries()) {
    try {
      mapping.patternToFilter(str(c, `toMqtt[${i}]`));
    } catch (err) {
      throw new TypeError(`toMqtt[${i}]: ${(err as Error).message}`);
    }
  }
  if (fromMqtt.length === 0 && toMqtt.length === 0) throw new TypeError('fromMqtt and toMqtt are both empty: nothing to bridge');
  const qos = o.qos ?? 1;
  if (qos !== 0 && qos !== 1) throw new TypeError(`qos must be 0 or 1, got ${String(qos)}`);
  const minMs = num(o.retry?.minMs, DEFAULT_RETRY_MIN_MS, 'retry.minMs', 1);
  const maxMs = num(o.retry?.maxMs, DEFAULT_RETRY_MAX_MS, 'retry.maxMs', minMs);
  return {
    mqtt,
    tributary,
    fromMqtt,
    toMqtt,
    mapping,
    qos,
    bridgeId: o.bridgeId === undefined ? clientId : str(o.bridgeId, 'bridgeId'),
    startTimeoutMs: num(o.startTimeoutMs, DEFAULT_START_TIMEOUT_MS, 'startTimeoutMs', 1),
    retry: { minMs, maxMs },
  };
}
