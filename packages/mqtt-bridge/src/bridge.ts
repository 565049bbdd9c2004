import { TributaryClient, isTributaryError, ErrorCodes, type Message, type ErrorCode } from '@tributary/client';
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { MappingError, type MappingErrorCode } from './mapping.js';
import { BRIDGE_PROPERTY, resolveMqttBridgeOptions, type MqttBridgeOptions, type ResolvedMqttBridgeOptions } from './options.js';
import { dataToPayload, msgIdFor, MQTT_MSGID_PREFIX, payloadToData } from './payload.js';

/** Which way a message goes. */
export type Direction = 'mqtt-to-tributary' | 'tributary-to-mqtt';

/** Why a message was not bridged. */
export const DropCodes = {
  /** The topic cannot be mapped to a channel (see the mapping rules). */
  INVALID_TOPIC: 'INVALID_TOPIC',
  /** The channel cannot be mapped to a topic. */
  INVALID_CHANNEL: 'INVALID_CHANNEL',
  /** Tributary refused the publish for good (`FORBIDDEN`, `PAYLOAD_TOO_LARGE`, `REJECTED`, …; see `tributaryCode`). */
  REFUSED: 'REFUSED',
  /** The MQTT broker did not take the publish (e.g. the bridge closed before its PUBACK). */
  MQTT_PUBLISH_FAILED: 'MQTT_PUBLISH_FAILED',
} as const;
/** A {@link DropCodes} value. */
export type DropCode = (typeof DropCodes)[keyof typeof DropCodes];

/** What the bridge reports through `onEvent`. */
export type BridgeEvent =
  | { type: 'bridged'; direction: 'mqtt-to-tributary'; topic: string; channel: string; offset: number; duplicate: boolean; msgId: string }
  | { type: 'bridged'; direction: 'tributary-to-mqtt'; channel: string; offset: number; topic: string }
  | { type: 'dropped'; direction: Direction; name: string; code: DropCode; message: string; tributaryCode?: ErrorCode }
  | { type: 'retrying'; topic: string; channel: string; code: ErrorCode; attempt: number; delayMs: number }
  | { type: 'connection'; side: 'mqtt' | 'tributary'; state: 'connected' | 'disconnected' }
  | { type: 'error'; side: 'mqtt' | 'tributary'; message: string };

/** Counters since start. */
export interface BridgeStats {
  /** MQTT messages stored in Tributary (duplicates included) and acknowledged. */
  fromMqtt: number;
  /** Of those, publishes Tributary had already stored (redeliveries). */
  duplicates: number;
  /** Tributary messages the MQTT broker acknowledged. */
  toMqtt: number;
  dropped: number;
  /** Messages not bridged because the bridge itself produced them. */
  loopsSkipped: number;
}

/** Options of {@link startMqttBridge}: {@link MqttBridgeOptions} plus an event sink. */
export interface StartMqttBridgeOptions extends MqttBridgeOptions {
  /** @defaultValue writes drops and errors to stderr */
  onEvent?: (event: BridgeEvent) => void;
}

/** A running bridge. */
export interface MqttBridge {
  readonly options: ResolvedMqttBridgeOptions;
  readonly stats: Readonly<BridgeStats>;
  readonly mqtt: MqttClient;
  readonly tributary: TributaryClient;
  /** Stops both directions. MQTT messages not yet stored in Tributary stay un-acked (the MQTT broker redelivers them to the next bridge with this client id). */
  close(): Promise<void>;
}

// Refusals that will not change on retry: the message is dropped (and acked, or it would block the session).
const TRANSIENT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCodes.TIMEOUT,
  ErrorCodes.UNAVAILABLE,
  ErrorCodes.RATE_LIMITED,
  ErrorCodes.LIMIT_EXCEEDED,
  ErrorCodes.INTERNAL,
  ErrorCodes.CLOSED,
]);

const defaultOnEvent = (e: BridgeEvent): void => {
  if (e.type === 'dropped') process.stderr.write(`mqtt-bridge: dropped (${e.direction}) ${e.name}: ${e.code} ${e.message}\n`);
  else if (e.type === 'error') process.stderr.write(`mqtt-bridge: ${e.side} error: ${e.message}\n`);
};

/**
 * Starts a bridge between an MQTT broker and Tributary and resolves once both are connected and
 * every subscription is in place.
 *
 * MQTT → Tributary: the bridge subscribes to `fromMqtt` (QoS 1, no-local, retained messages not
 * replayed) and publishes each message to the mapped channel with a msgId derived from the delivery
 * ({@link msgIdFor}). mqtt.js hands messages over one at a time through `handleMessage` and sends the
 * PUBACK only when its callback runs, so the PUBACK goes out after Tributary acked the publish: a
 * bridge that dies before that leaves the message with the MQTT broker, which redelivers it with the
 * same packet identifier to the next bridge of the session; the same msgId makes Tributary store it
 * once. Transient Tributary failures are retried with backoff (the session waits, in order).
 *
 * Tributary → MQTT: the bridge subscribes to `toMqtt` and publishes each message to the mapped topic
 * with QoS 1 and the user property `tributary-bridge`. Messages that came from MQTT (msgId `mqtt:…`)
 * and MQTT messages carrying that property are not bridged again.
 */
export async function startMqttBridge(options: StartMqttBridgeOptions): Promise<MqttBridge> {
  const o = resolveMqttBridgeOptions(options);
  const onEvent = options.onEvent ?? defaultOnEvent;
  const emit = (e: BridgeEvent): void => {
    try {
      onEvent(e);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  };
  const stats: BridgeStats = { fromMqtt: 0, duplicates: 0, toMqtt: 0, dropped: 0, loopsSkipped: 0 };
  const { mapping } = o;
  let closing = false;
  // Bumped whenever the MQTT connection closes: a PUBACK is only sent on the connection the message
  // came in on; after a reconnect the broker redelivers it instead.
  let generation = 0;
  const stop = new AbortController();

  const tributary = new TributaryClient({ url: o.tributary.url, ...(o.tributary.token === undefined ? {} : { token: o.tributary.token }) });
  tributary.on('connected', () => emit({ type: 'connection', side: 'tributary', state: 'connected' }));
  tributary.on('disconnected', () => emit({ type: 'connection', side: 'tributary', state: 'disconnected' }));
  tributary.on('error', (err) => emit({ type: 'error', side: 'tributary', message: `${err.code}: ${err.message}` }));

  const mqttOptions: IClientOptions = {
    protocolVersion: 5,
    clientId: o.mqtt.clientId,
    // A persistent session: un-acked QoS 1 messages survive a bridge restart.
    clean: false,
    properties: { sessionExpiryInterval: o.mqtt.sessionExpirySeconds },
    reconnectPeriod: o.mqtt.reconnectPeriodMs,
    connectTimeout: o.startTimeoutMs,
    resubscribe: true,
    manualConnect: true,
  };
  if (o.mqtt.username !== undefined) mqttOptions.username = o.mqtt.username;
  if (o.mqtt.password !== undefined) mqttOptions.password = o.mqtt.password;
  const mqtt = connect(o.mqtt.url, mqttOptions);
  mqtt.on('connect', () => emit({ type: 'connection', side: 'mqtt', state: 'connected' }));
  mqtt.on('close', () => {
    generation++;
    if (!closing) emit({ type: 'connection', side: 'mqtt', state: 'disconnected' });
  });
  mqtt.on('error', (err) => emit({ type: 'error', side: 'mqtt', message: err.message }));

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      stop.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });

  /** Stores one MQTT message in Tributary; true when it may be acknowledged. */
  const fromMqtt = async (packet: IPublishPacket, gen: number): Promise<boolean> => {
    const props = packet.properties?.userProperties;
    if (props?.[BRIDGE_PROPERTY] !== undefined) {
      stats.loopsSkipped++;
      return true;
    }
    const topic = packet.topic;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    let channel: string;
    try {
      channel = mapping.topicToChannel(topic);
    } catch (err) {
      drop('mqtt-to-tributary', topic, err);
      return true;
    }
    const own = props?.msgId;
    const msgId = msgIdFor({
      clientId: o.mqtt.clientId,
      topic,
      payload,
      qos: packet.qos,
      ...(packet.messageId === undefined ? {} : { messageId: packet.messageId }),
      ...(typeof own === 'string' ? { publisherMsgId: own } : {}),
    });
    const data = payloadToData(payload);
    for (let attempt = 1; ; attempt++) {
      try {
        const ack = await tributary.publish(channel, data, { msgId });
        stats.fromMqtt++;
        if (ack.duplicate) stats.duplicates++;
        emit({ type: 'bridged', direction: 'mqtt-to-tributary', topic, channel, offset: ack.offset, duplicate: ack.duplicate, msgId });
        return true;
      } catch (err) {
        if (closing || gen !== generation) return false;
        if (isTributaryError(err) && !TRANSIENT.has(err.code)) {
          drop('mqtt-to-tributary', topic, err);
          return true;
        }
        const code = isTributaryError(err) ? err.code : ErrorCodes.INTERNAL;
        const delayMs = Math.min(o.retry.maxMs, o.retry.minMs * 2 ** (attempt - 1));
        emit({ type: 'retrying', topic, channel, code, attempt, delayMs });
        await sleep(delayMs);
        if (closing || gen !== generation) return false;
      }
    }
  };

  const drop = (direction: Direction, name: string, err: unknown): void => {
    stats.dropped++;
    if (err instanceof MappingError) {
      const code: MappingErrorCode = err.code;
      emit({ type: 'dropped', direction, name, code, message: err.message });
    } else if (isTributaryError(err)) {
      emit({ type: 'dropped', direction, name, code: DropCodes.REFUSED, message: err.message, tributaryCode: err.code });
    } else {
      emit({ type: 'dropped', direction, name, code: DropCodes.MQTT_PUBLISH_FAILED, message: String(err) });
    }
  };

  // mqtt.js calls this one message at a time and sends the PUBACK (QoS 1) only after the callback;
  // an error passed to it sends none.
  mqtt.handleMessage = (packet, callback) => {
    const gen = generation;
    fromMqtt(packet, gen).then(
      (ok) =>
        ok && !closing && gen === generation ? callback() : callback(new Error('not acknowledged: the bridge is closing or reconnected')),
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
    );
  };

  const toMqtt = (msg: Message): void => {
    // Came from MQTT through a bridge: sending it back would loop.
    if (msg.msgId?.startsWith(MQTT_MSGID_PREFIX) === true) {
      stats.loopsSkipped++;
      return;
    }
    let topic: string;
    try {
      topic = mapping.channelToTopic(msg.channel);
    } catch (err) {
      drop('tributary-to-mqtt', msg.channel, err);
      return;
    }
    // Queued by mqtt.js while MQTT is disconnected and sent (QoS 1: until acked) when it is back.
    mqtt.publish(
      topic,
      dataToPayload(msg.data),
      {
        qos: o.qos,
        properties: {
          contentType: 'application/json',
          payloadFormatIndicator: true,
          userProperties: { [BRIDGE_PROPERTY]: o.bridgeId, 'tributary-channel': msg.channel, 'tributary-offset': String(msg.offset) },
        },
      },
      (err) => {
        if (err) {
          if (!closing) drop('tributary-to-mqtt', msg.channel, err);
          return;
        }
        stats.toMqtt++;
        emit({ type: 'bridged', direction: 'tributary-to-mqtt', channel: msg.channel, offset: msg.offset, topic });
      },
    );
  };

  const close = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    stop.abort();
    // Tributary first: a publish still waiting for its ack fails, so its MQTT message stays un-acked.
    await tributary.close();
    await new Promise<void>((resolve) => mqtt.end(true, {}, () => resolve()));
  };

  try {
    const mqttUp = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no MQTT connection to ${o.mqtt.url} within ${o.startTimeoutMs} ms`)),
        o.startTimeoutMs,
      );
      mqtt.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    mqtt.connect();
    await Promise.all([mqttUp, tributary.connect()]);
    if (o.fromMqtt.length > 0) {
      const granted = await mqtt.subscribeAsync(Object.fromEntries(o.fromMqtt.map((f) => [f, { qos: o.qos, nl: true, rh: 2 }])));
      const refused = granted.filter((g) => g.qos === 128);
      if (refused.length > 0) throw new Error(`the MQTT broker refused the subscription to ${refused.map((g) => g.topic).join(', ')}`);
    }
    for (const c of o.toMqtt) await tributary.subscribe(c, toMqtt);
  } catch (err) {
    await close();
    throw err;
  }

  return { options: o, stats, mqtt, tributary, close };
}
