#!/usr/bin/env node
// Installed as the `tributary-mqtt-bridge` command; in this workspace:
// node --import tsx packages/mqtt-bridge/src/bin.ts --mqtt mqtt://127.0.0.1:1883 --from 'sensors/#' --to 'alerts.>'
import { parseArgs } from 'node:util';
import { startMqttBridge, type BridgeEvent } from './index.js';

const help = `mqtt-bridge [options]

Bridges an MQTT broker and a Tributary broker (see packages/mqtt-bridge/README.md).

  --mqtt URL            MQTT broker (default mqtt://127.0.0.1:1883, env MQTT_URL)
  --url URL             Tributary broker (default http://127.0.0.1:7700, env TRIBUTARY_URL);
                        token from env TRIBUTARY_TOKEN
  --from FILTER         MQTT topic filter to bridge into Tributary; repeatable ('sensors/#')
  --to CHANNEL          Tributary channel or pattern to bridge out to MQTT; repeatable ('alerts.>')
  --topic-prefix P      topics under P map to channels under --channel-prefix (default: none)
  --channel-prefix C    (default: none)
  --client-id ID        MQTT client id; keep it across restarts (default tributary-bridge)
  --username U          MQTT username (password from env MQTT_PASSWORD)
  --verbose             print every bridged message`;

const { values } = parseArgs({
  options: {
    mqtt: { type: 'string' },
    url: { type: 'string' },
    from: { type: 'string', multiple: true },
    to: { type: 'string', multiple: true },
    'topic-prefix': { type: 'string' },
    'channel-prefix': { type: 'string' },
    'client-id': { type: 'string' },
    username: { type: 'string' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help === true) {
  console.log(help);
  process.exit(0);
}

const print = (e: BridgeEvent): void => {
  switch (e.type) {
    case 'bridged':
      if (values.verbose === true)
        console.log(
          e.direction === 'mqtt-to-tributary'
            ? `${e.topic} → ${e.channel}@${e.offset}${e.duplicate ? ' (duplicate)' : ''}`
            : `${e.channel}@${e.offset} → ${e.topic}`,
        );
      break;
    case 'dropped':
      console.error(
        `dropped (${e.direction}) ${e.name}: ${e.code}${e.tributaryCode === undefined ? '' : `/${e.tributaryCode}`} ${e.message}`,
      );
      break;
    case 'retrying':
      console.error(`retrying ${e.topic} → ${e.channel} (${e.code}, attempt ${e.attempt}, in ${e.delayMs} ms)`);
      break;
    case 'connection':
      console.log(`${e.side} ${e.state}`);
      break;
    case 'error':
      console.error(`${e.side} error: ${e.message}`);
      break;
  }
};

try {
  const mqttUrl = values.mqtt ?? (process.env.MQTT_URL || 'mqtt://127.0.0.1:1883');
  const url = values.url ?? (process.env.TRIBUTARY_URL || 'http://127.0.0.1:7700');
  const bridge = await startMqttBridge({
    mqtt: {
      url: mqttUrl,
      ...(values['client-id'] === undefined ? {} : { clientId: values['client-id'] }),
      ...(values.username === undefined ? {} : { username: values.username }),
      ...(process.env.MQTT_PASSWORD ? { password: process.env.MQTT_PASSWORD } : {}),
    },
    tributary: { url, ...(process.env.TRIBUTARY_TOKEN ? { token: process.env.TRIBUTARY_TOKEN } : {}) },
    fromMqtt: values.from ?? [],
    toMqtt: values.to ?? [],
    ...(values['topic-prefix'] === undefined ? {} : { topicPrefix: values['topic-prefix'] }),
    ...(values['channel-prefix'] === undefined ? {} : { channelPrefix: values['channel-prefix'] }),
    onEvent: print,
  });
  const m = bridge.options.mapping;
  console.log(`mqtt-bridge: ${mqttUrl} ⇄ ${url}`);
  for (const f of bridge.options.fromMqtt) console.log(`  mqtt ${f} → tributary ${m.filterToPattern(f)}`);
  for (const c of bridge.options.toMqtt) console.log(`  tributary ${c} → mqtt ${m.patternToFilter(c)}`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await bridge.close();
} catch (err) {
  console.error(`mqtt-bridge: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = err instanceof TypeError ? 2 : 1;
}
