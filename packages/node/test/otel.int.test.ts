import { fileURLToPath } from 'node:url';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { MemoryEngine, type StreamEngine } from '@tributary/engine';
import { RedisEngine } from '@tributary/engine/redis';
import { parseTraceparent } from '@tributary/protocol';
import { connectWs, eventually, startRedis, type RedisServer } from '@tributary/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNode } from '../src/node.js';

// What a user who registers an OpenTelemetry SDK (here the SDK's in-memory exporter) sees: a device
// reading, the two first-party blocks and the alert in one trace, each span the child of the one
// before. Tributary itself ships only the API; this file registers the provider.

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
let redis: RedisServer;
beforeAll(async () => {
  trace.setGlobalTracerProvider(provider);
  redis = await startRedis();
});
afterAll(async () => {
  trace.disable();
  await provider.shutdown();
  await redis.stop();
});
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
  exporter.reset();
});

const folder = (name: string): string => fileURLToPath(new URL(`../../../blocks/${name}`, import.meta.url));
const DEVICE_TRACE = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

// On Redis the context crosses the stream (the entry's envelope field) and the blocks' consumer groups.
const engines: Array<[string, () => StreamEngine]> = [
  ['memory', () => new MemoryEngine()],
  ['Redis', () => new RedisEngine({ url: redis.url, keyPrefix: `otel${Math.random().toString(36).slice(2, 8)}:` })],
];

describe('OpenTelemetry spans', () => {
  it.each(engines)(
    'device → sensor-average → temperature-alert is one trace, each step the child of the one before (%s)',
    async (_name, make) => {
      const engine = make();
      cleanups.push(() => engine.close());
      const node = await startNode({ engine, auth: { insecure: true }, port: 0 });
      cleanups.push(() => node.close());
      for (const name of ['sensor-average', 'temperature-alert']) {
        const p = await node.blocks.prepareFolder(folder(name));
        await node.blocks.deploy(p.compiled, p.config);
      }
      const ws = await connectWs(`${node.broker.url.replace(/^http/, 'ws')}/v1/ws`);
      cleanups.push(() => ws.close());
      await ws.request({ type: 'subscribe', channel: 'alerts.temperature' });
      await ws.request({ type: 'publish', channel: 'sensors.d1', data: { celsius: 50 }, traceparent: DEVICE_TRACE });
      const alert = await ws.next((f) => f.type === 'message', 15_000);

      const device = parseTraceparent(DEVICE_TRACE);
      // The alert's own publish span ends once it is stored, a moment after subscribers may see it.
      await eventually(() => exporter.getFinishedSpans().length >= 5);
      const spans = exporter.getFinishedSpans();
      const named = (name: string): ReadableSpan => {
        const s = spans.find((x) => x.name === name);
        if (s === undefined) throw new Error(`no span ${name}; got ${spans.map((x) => x.name).join(', ')}`);
        return s;
      };
      const chain = [
        'publish sensors.d1',
        'invoke sensor-average',
        'publish averages.d1',
        'invoke temperature-alert',
        'publish alerts.temperature',
      ].map(named);
      for (const s of chain) expect(s.spanContext().traceId).toBe(device?.traceId);
      // Each span's parent is the one before it; the first one's is the device's own span.
      expect(chain[0]?.parentSpanContext?.spanId).toBe(device?.spanId);
      for (let i = 1; i < chain.length; i++) expect(chain[i]?.parentSpanContext?.spanId).toBe(chain[i - 1]?.spanContext().spanId);
      expect(chain[1]?.attributes).toMatchObject({ 'tributary.block': 'sensor-average', 'messaging.destination.name': 'sensors.d1' });
      // The alert carries the context of its publish span: a subscriber continues the same trace.
      expect(parseTraceparent(alert.traceparent)).toMatchObject({ traceId: device?.traceId, spanId: chain[4]?.spanContext().spanId });
    },
  );

  it('a publish without a traceparent starts a trace that its blocks join', async () => {
    const engine = new MemoryEngine();
    cleanups.push(() => engine.close());
    const node = await startNode({ engine, auth: { insecure: true }, port: 0 });
    cleanups.push(() => node.close());
    const p = await node.blocks.prepareFolder(folder('sensor-average'));
    await node.blocks.deploy(p.compiled, p.config);
    const res = await fetch(`${node.broker.url}/v1/channels/sensors.d2/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: { celsius: 10 } }),
    });
    expect(res.status).toBe(201);
    await eventually(() => exporter.getFinishedSpans().some((s) => s.name === 'publish averages.d2'));
    const spans = exporter.getFinishedSpans();
    const root = spans.find((s) => s.name === 'publish sensors.d2');
    expect(root?.parentSpanContext).toBeUndefined();
    const out = spans.find((s) => s.name === 'publish averages.d2');
    expect(out?.spanContext().traceId).toBe(root?.spanContext().traceId);
    const stored = (await engine.read('averages.d2', { limit: 1 })).entries[0];
    expect(stored?.meta).toContain(out?.spanContext().spanId);
  });
});
