import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { MemoryEngine } from '@tributary/engine';
import { decodeEnvelope, parseTraceparent } from '@tributary/protocol';
import { eventually } from '@tributary/testkit';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { startNode } from '../src/node.js';

// A replay runs a version over yesterday's messages. With an OpenTelemetry SDK registered, its
// invocations must not join the traces those messages started: a collector would show the block
// handling the reading twice, once with a version that was never deployed.

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
beforeAll(() => {
  trace.setGlobalTracerProvider(provider);
});
afterAll(async () => {
  trace.disable();
  await provider.shutdown();
});
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
  exporter.reset();
});

const DEVICE_TRACE = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const RELAY = `import { defineBlock } from '@tributary/block';
export default defineBlock({ name: 'relay', trigger: { afterPublish: 'sensors.*' }, publishes: ['out.*'],
  async handle(msg, ctx) { await ctx.publish('out.x', msg.data); } });`;

it("a replay's spans are a trace of their own, not late children of the replayed message's trace", async () => {
  const engine = new MemoryEngine();
  cleanups.push(() => engine.close());
  const node = await startNode({ engine, auth: { insecure: true }, port: 0 });
  cleanups.push(() => node.close());
  const stored = await node.publisher.publish({
    channel: 'sensors.d1',
    data: { celsius: 20 },
    principal: { admin: true, grants: {} },
    traceparent: DEVICE_TRACE,
  });
  const device = parseTraceparent(DEVICE_TRACE)?.traceId;
  await eventually(() => exporter.getFinishedSpans().some((s) => s.name === 'publish sensors.d1'));
  exporter.reset();

  const res = await fetch(`${node.broker.url}/v1/admin/replay`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ source: RELAY, from: 'sensors.d1', since: '0', into: 'trial' }),
  });
  expect(res.status).toBe(200);
  expect(((await res.json()) as { summary: { outputs: number } }).summary.outputs).toBe(1);
  await eventually(() => exporter.getFinishedSpans().some((s) => s.name === 'publish trial.out.x'));
  const spans = exporter.getFinishedSpans();
  expect(spans.map((s) => s.name).sort()).toEqual(['invoke relay', 'publish trial.out.x']);
  // Nothing joined the device's trace…
  for (const s of spans) expect(s.spanContext().traceId, s.name).not.toBe(device);
  // …while the output still leads back to its input through lineage.
  const out = (await engine.read('trial.out.x', { limit: 1 })).entries[0];
  expect(decodeEnvelope(out?.meta).lineage).toMatchObject({ channel: 'sensors.d1', offset: stored.offset, block: 'relay' });
});
