import { randomBytes } from 'node:crypto';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { startBroker, type Broker } from '@tributary/broker';
import { TributaryClient, type Message } from '@tributary/client';
import { MemoryEngine } from '@tributary/engine';
import { connectAsync, type IPublishPacket, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { startMqttBridge, type BridgeEvent, type MqttBridge, type StartMqttBridgeOptions } from '../src/index.js';
import { startMosquitto, type Mosquitto } from './mosquitto.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** A Tributary broker that can be restarted on the same port with the same engine (history kept). */
async function tributaryBroker(): Promise<{ url: string; restart(): Promise<void>; stop(): Promise<void> }> {
  const engine = new MemoryEngine();
  let broker: Broker | undefined = await startBroker({ engine, auth: { insecure: true }, host: '127.0.0.1', port: 0 });
  const port = broker.port;
  cleanups.push(async () => {
    await broker?.close();
    await engine.close();
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      const b = broker;
      broker = undefined;
      await b?.close();
    },
    async restart() {
      await broker?.close();
      broker = await startBroker({ engine, auth: { insecure: true }, host: '127.0.0.1', port });
    },
  };
}

async function mosquitto(): Promise<Mosquitto> {
  const m = await startMosquitto();
  cleanups.push(() => m.stop());
  return m;
}

/** A plain MQTT client of the test (a device or an observer). */
async function mqttClient(url: string): Promise<{ client: MqttClient; received: IPublishPacket[] }> {
  const client = await connectAsync(url, { protocolVersion: 5, clientId: `test-${randomBytes(4).toString('hex')}`, reconnectPeriod: 100 });
  cleanups.push(() => client.endAsync(true));
  const received: IPublishPacket[] = [];
  client.on('message', (_t, _p, packet) => void received.push(packet));
  return { client, received };
}

async function tributaryClient(url: string): Promise<TributaryClient> {
  const c = new TributaryClient({ url });
  cleanups.push(() => c.close());
  await c.connect();
  return c;
}

async function bridge(o: StartMqttBridgeOptions): Promise<{ bridge: MqttBridge; events: BridgeEvent[] }> {
  const events: BridgeEvent[] = [];
  const b = await startMqttBridge({ ...o, onEvent: (e) => void events.push(e) });
  cleanups.push(() => b.close());
  return { bridge: b, events };
}

/** Per-test name spaces, so tests never see each other's messages. */
function names(): { tp: string; cp: string; clientId: string } {
  const id = randomBytes(4).toString('hex');
  return { tp: `it/${id}`, cp: `mqtt.t${id}`, clientId: `bridge-${id}` };
}

describe('mqtt-bridge against a real Mosquitto and a real Tributary broker', () => {
  it('bridges both ways with the documented mapping, without loops, refusing invalid names', async () => {
    const mq = await mosquitto();
    const tb = await tributaryBroker();
    const { tp, cp, clientId } = names();
    const { bridge: b, events } = await bridge({
      mqtt: { url: mq.url, clientId },
      tributary: { url: tb.url },
      topicPrefix: tp,
      channelPrefix: cp,
      // Both directions over the same name space: only loop prevention keeps messages from bouncing.
      fromMqtt: [`${tp}/#`],
      toMqtt: [`${cp}.>`],
    });
    const reader = await tributaryClient(tb.url);
    const inTributary: Message[] = [];
    await reader.subscribe(`${cp}.>`, (m) => void inTributary.push(m));
    const device = await mqttClient(mq.url);
    const observer = await mqttClient(mq.url);
    await observer.client.subscribeAsync(`${tp}/#`, { qos: 1 });

    // MQTT → Tributary: JSON kept, text and binary wrapped; topic segments escaped.
    await device.client.publishAsync(`${tp}/sensors/d1`, '{"celsius":21.5}', { qos: 1 });
    await device.client.publishAsync(`${tp}/notes`, 'hello world', { qos: 1 });
    await device.client.publishAsync(`${tp}/blob`, Buffer.from([0xff, 0, 1]), { qos: 1 });
    await device.client.publishAsync(`${tp}/room 1/ünï`, '"x"', { qos: 1 });
    await eventually(() => inTributary.length >= 4, { message: '4 messages in Tributary', timeoutMs: 15_000 });
    expect(inTributary.map((m) => [m.channel, m.data])).toEqual([
      [`${cp}.sensors.d1`, { celsius: 21.5 }],
      [`${cp}.notes`, { text: 'hello world' }],
      [`${cp}.blob`, { base64: '/wAB' }],
      [`${cp}.room=201.=C3=BCn=C3=AF`, 'x'],
    ]);
    expect(inTributary.every((m) => m.msgId?.startsWith('mqtt:'))).toBe(true);

    // Tributary → MQTT, including back through the escaped name: the mapping round-trips.
    await reader.publish(`${cp}.alerts.high`, { level: 3 });
    await reader.publish(`${cp}.room=201.=C3=BCn=C3=AF`, { reply: true });
    const fromBridge = (): IPublishPacket[] =>
      observer.received.filter((p) => p.properties?.userProperties?.['tributary-bridge'] !== undefined);
    await eventually(() => fromBridge().length >= 2, { message: '2 messages on MQTT from the bridge', timeoutMs: 15_000 });
    expect(fromBridge().map((p) => [p.topic, JSON.parse(p.payload.toString()) as unknown, p.qos])).toEqual([
      [`${tp}/alerts/high`, { level: 3 }, 1],
      [`${tp}/room 1/ünï`, { reply: true }, 1],
    ]);
    expect(fromBridge()[0]?.properties?.userProperties).toMatchObject({
      'tributary-bridge': clientId,
      'tributary-channel': `${cp}.alerts.high`,
    });

    // Invalid names are refused and reported; the bridge carries on.
    await device.client.publishAsync(`${tp}/${'x'.repeat(250)}`, '1', { qos: 1 });
    await reader.publish(`${cp}.bad=ZZ`, { x: 1 });
    await device.client.publishAsync(`${tp}/after`, '2', { qos: 1 });
    await eventually(() => inTributary.some((m) => m.channel === `${cp}.after`), {
      message: 'the message after the invalid one',
      timeoutMs: 15_000,
    });
    await eventually(() => events.filter((e) => e.type === 'dropped').length >= 2, { message: 'two drops', timeoutMs: 15_000 });
    expect(
      events
        .filter((e) => e.type === 'dropped')
        .map((e) => e.type === 'dropped' && [e.direction, e.code])
        .sort(),
    ).toEqual([
      ['mqtt-to-tributary', 'INVALID_TOPIC'],
      ['tributary-to-mqtt', 'INVALID_CHANNEL'],
    ]);

    // No loops: every MQTT-born message came back to the bridge through `${cp}.>` and was skipped,
    // the bridge's own MQTT publishes never came back (no-local), and each message exists once.
    // Acks and fan-out race each other, so wait for the counters rather than assume their order.
    await eventually(() => b.stats.loopsSkipped >= 5 && b.stats.fromMqtt >= 5 && b.stats.toMqtt >= 2, {
      message: 'the counters to settle',
      timeoutMs: 15_000,
    });
    expect(b.stats).toMatchObject({ fromMqtt: 5, toMqtt: 2, duplicates: 0, dropped: 2, loopsSkipped: 5 });
    expect(inTributary.filter((m) => m.channel === `${cp}.alerts.high`)).toHaveLength(1);
    expect((await reader.history(`${cp}.sensors.d1`)).messages).toHaveLength(1);
    expect(observer.received.filter((p) => p.topic === `${tp}/sensors/d1`)).toHaveLength(1);
  });

  it('stores a QoS 1 message once when the bridge restarts before acknowledging it (redelivery)', async () => {
    const mq = await mosquitto();
    const tb = await tributaryBroker();
    const { tp, cp, clientId } = names();
    // Bridge A talks to Tributary through a proxy that can stop forwarding the broker's replies:
    // its publish is stored, but A never sees the ack, so it never sends the PUBACK.
    const proxy = await blackholeProxy(new URL(tb.url).port);
    const a = await bridge({
      mqtt: { url: mq.url, clientId },
      tributary: { url: proxy.url },
      topicPrefix: tp,
      channelPrefix: cp,
      fromMqtt: [`${tp}/#`],
    });
    proxy.blackhole = true;

    const reader = await tributaryClient(tb.url);
    const device = await mqttClient(mq.url);
    await device.client.publishAsync(`${tp}/orders`, '{"order":42}', { qos: 1 });
    const stored = await eventually(
      async () => {
        const h = await reader.history(`${cp}.orders`);
        return h.messages.length > 0 ? h.messages : undefined;
      },
      { message: 'the message stored', timeoutMs: 15_000 },
    );
    expect(a.bridge.stats.fromMqtt).toBe(0); // stored, but A does not know it: no PUBACK went out
    await a.bridge.close();

    // Bridge B resumes the session; Mosquitto redelivers the un-acked message with the same packet id.
    const bEvents: BridgeEvent[] = [];
    const b = await startMqttBridge({
      mqtt: { url: mq.url, clientId },
      tributary: { url: tb.url },
      topicPrefix: tp,
      channelPrefix: cp,
      fromMqtt: [`${tp}/#`],
      onEvent: (e) => void bEvents.push(e),
    });
    cleanups.push(() => b.close());
    const redelivered = await eventually(() => bEvents.find((e) => e.type === 'bridged'), { message: 'the redelivery', timeoutMs: 15_000 });
    expect(redelivered).toMatchObject({
      direction: 'mqtt-to-tributary',
      duplicate: true,
      offset: stored[0]?.offset,
      msgId: stored[0]?.msgId,
    });
    expect((await reader.history(`${cp}.orders`)).messages.map((m) => m.data)).toEqual([{ order: 42 }]);

    // Acked this time: a third bridge on the session gets nothing again.
    await b.close();
    const c = await bridge({
      mqtt: { url: mq.url, clientId },
      tributary: { url: tb.url },
      topicPrefix: tp,
      channelPrefix: cp,
      fromMqtt: [`${tp}/#`],
    });
    await device.client.publishAsync(`${tp}/orders`, '{"order":43}', { qos: 1 });
    await eventually(() => c.bridge.stats.fromMqtt >= 1, { message: 'the next order', timeoutMs: 15_000 });
    expect(c.bridge.stats).toMatchObject({ fromMqtt: 1, duplicates: 0 });
    expect((await reader.history(`${cp}.orders`)).messages.map((m) => m.data)).toEqual([{ order: 42 }, { order: 43 }]);
  });

  it('resumes after Mosquitto restarts and after the Tributary broker restarts', async () => {
    const mq = await mosquitto();
    const tb = await tributaryBroker();
    const { tp, cp, clientId } = names();
    const { events } = await bridge({
      mqtt: { url: mq.url, clientId, reconnectPeriodMs: 100 },
      tributary: { url: tb.url },
      topicPrefix: tp,
      channelPrefix: cp,
      fromMqtt: [`${tp}/in/#`],
      toMqtt: [`${cp}.out`], // an exact channel: resumed from its last offset
    });
    const reader = await tributaryClient(tb.url);
    const inTributary: Message[] = [];
    await reader.subscribe(`${cp}.in.>`, (m) => void inTributary.push(m));
    const connects = (side: 'mqtt' | 'tributary'): number =>
      events.filter((e) => e.type === 'connection' && e.side === side && e.state === 'connected').length;

    // Mosquitto restarts without persistence: the bridge reconnects and subscribes again.
    await mq.restart();
    await eventually(() => connects('mqtt') >= 2, { message: 'the bridge back on MQTT', timeoutMs: 15_000 });
    const device = await mqttClient(mq.url);
    // Its re-subscription follows the reconnect: publish until one gets through.
    for (let n = 0; !inTributary.some((m) => m.channel === `${cp}.in.x`); n++) {
      if (n > 100) throw new Error('bridging MQTT → Tributary did not resume');
      await device.client.publishAsync(`${tp}/in/x`, JSON.stringify({ n }), { qos: 1 });
      await new Promise((r) => setTimeout(r, 50));
    }
    const observer = await mqttClient(mq.url);
    await observer.client.subscribeAsync(`${tp}/out`, { qos: 1 });
    await reader.publish(`${cp}.out`, { seq: 1 });
    await eventually(() => observer.received.length >= 1, { message: 'seq 1 on MQTT', timeoutMs: 15_000 });

    // The Tributary broker restarts (same engine): messages published before the bridge is back are
    // delivered from its last offset, once; MQTT messages wait for the publish to go through.
    await tb.restart();
    const writer = await tributaryClient(tb.url);
    await writer.publish(`${cp}.out`, { seq: 2 });
    await writer.publish(`${cp}.out`, { seq: 3 });
    await device.client.publishAsync(`${tp}/in/y`, '{"after":"restart"}', { qos: 1 });
    await eventually(() => observer.received.length >= 3, { message: 'seq 2 and 3 on MQTT', timeoutMs: 15_000 });
    await eventually(async () => (await writer.history(`${cp}.in.y`)).messages.length === 1, {
      message: 'the MQTT message in Tributary',
      timeoutMs: 15_000,
    });
    expect(observer.received.map((p) => JSON.parse(p.payload.toString()) as unknown)).toEqual([{ seq: 1 }, { seq: 2 }, { seq: 3 }]);
    expect(connects('tributary')).toBeGreaterThanOrEqual(2);
  });
});

/** A TCP proxy to 127.0.0.1:`port` whose `blackhole` flag drops everything the upstream sends back. */
async function blackholeProxy(port: string): Promise<{ url: string; blackhole: boolean }> {
  const sockets = new Set<Socket>();
  const state = { url: '', blackhole: false };
  const server: Server = createServer((down) => {
    const up = tcpConnect(Number(port), '127.0.0.1');
    sockets.add(down).add(up);
    down.on('data', (d) => up.write(d));
    up.on('data', (d) => {
      if (!state.blackhole) down.write(d);
    });
    const end = (): void => {
      down.destroy();
      up.destroy();
    };
    down.on('close', end).on('error', end);
    up.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (typeof addr !== 'object' || addr === null) throw new Error('no proxy address');
  state.url = `http://127.0.0.1:${addr.port}`;
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return state;
}
