/**
 * `@tributary/mqtt-bridge`: bridges an MQTT broker (e.g. Mosquitto) and Tributary in both
 * directions, with a documented topic ↔ channel mapping (README.md).
 */
export { startMqttBridge, DropCodes } from './bridge.js';
export type { BridgeEvent, BridgeStats, Direction, DropCode, MqttBridge, StartMqttBridgeOptions } from './bridge.js';
export {
  resolveMqttBridgeOptions,
  BRIDGE_PROPERTY,
  DEFAULT_MQTT_CLIENT_ID,
  DEFAULT_SESSION_EXPIRY_SECONDS,
  DEFAULT_MQTT_RECONNECT_MS,
  DEFAULT_START_TIMEOUT_MS,
  DEFAULT_RETRY_MIN_MS,
  DEFAULT_RETRY_MAX_MS,
} from './options.js';
export type { MqttBridgeOptions, ResolvedMqttBridgeOptions } from './options.js';
export { createMapping, encodeSegment, decodeSegment, topicProblem, MappingError, MappingErrorCodes } from './mapping.js';
export type { Mapping, MappingOptions, MappingErrorCode } from './mapping.js';
export { payloadToData, dataToPayload, msgIdFor, MQTT_MSGID_PREFIX } from './payload.js';
export type { DeliveryId } from './payload.js';
