import { encodeEnvelope } from '@tributary/protocol';
import { eventually } from '@tributary/testkit';
import { describe, expect, it } from 'vitest';
import { client, collector, createToken, SECRET, TestBroker } from './helpers.js';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('lineage and trace context in the client', () => {
  it('hands a message its lineage where the grants reach the parent, and its traceparent, live and in history', async () => {
    const b = await TestBroker.start({ auth: { secret: SECRET } });
    // A block's output as the runtime stores it: the parent message and the block version in the envelope.
    const lineage = { channel: 'readings.d1', offset: 4, epoch: 'ep', block: 'avg', version: 'v7' };
    const reader = client(b.wsUrl, {
      token: await createToken({ secret: SECRET, grants: { 'out.>': ['subscribe', 'history'], 'readings.*': ['history'] } }),
    });
    const outsider = client(b.wsUrl, { token: await createToken({ secret: SECRET, grants: { 'out.>': ['subscribe', 'history'] } }) });
    await Promise.all([reader.connect(), outsider.connect()]);
    const seen = collector();
    const unseen = collector();
    await reader.subscribe('out.avg', seen.handler);
    await outsider.subscribe('out.avg', unseen.handler);
    await b.engine.append({
      channel: 'out.avg',
      payload: '{"c":21}',
      hops: 1,
      meta: encodeEnvelope({ lineage, traceparent: TRACEPARENT }),
    });
    await eventually(() => seen.messages.length === 1 && unseen.messages.length === 1);
    expect(seen.messages[0]).toMatchObject({ data: { c: 21 }, lineage, traceparent: TRACEPARENT });
    expect(unseen.messages[0]).toMatchObject({ data: { c: 21 }, traceparent: TRACEPARENT });
    expect(unseen.messages[0]?.lineage).toBeUndefined();
    expect((await reader.history('out.avg')).messages[0]).toMatchObject({ lineage, traceparent: TRACEPARENT });
    expect((await outsider.history('out.avg')).messages[0]?.lineage).toBeUndefined();
  });

  it('publishes with a traceparent that subscribers receive, and refuses a malformed one before sending', async () => {
    const b = await TestBroker.start({ auth: { secret: SECRET } });
    const c = client(b.wsUrl, { token: SECRET });
    await c.connect();
    const got = collector();
    await c.subscribe('dev.t', got.handler);
    await c.publish('dev.t', { n: 1 }, { traceparent: TRACEPARENT });
    await eventually(() => got.messages.length === 1);
    expect(got.messages[0]).toMatchObject({ data: { n: 1 }, traceparent: TRACEPARENT });
    await expect(c.publish('dev.t', { n: 2 }, { traceparent: 'nope' })).rejects.toMatchObject({ code: 'INVALID_FRAME' });
  });
});
