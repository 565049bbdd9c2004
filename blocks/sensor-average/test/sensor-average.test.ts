import type { Entry, StreamEngine } from '@tributary/engine';
import type { PublishFn } from '@tributary/runtime';
import { describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { deployBlock, drained, memoryEngine, messages, publish, waitForMessages } from './harness.js';

interface Average {
  device: string;
  celsius: number;
  count: number;
  windowStart: number;
}

/**
 * What the block must publish for these stored readings, one message at a time in order: the
 * oracle works from the engine's stored times, so a test that happens to straddle a window boundary
 * still knows which readings share a window.
 */
function expectedAverages(readings: Array<{ entry: Entry; device: string }>, windowMs: number): Average[] {
  const totals = new Map<string, { sum: number; count: number }>();
  return readings.map(({ entry, device }) => {
    const windowStart = Math.floor(entry.time / windowMs) * windowMs;
    const key = `${device}@${windowStart}`;
    const t = totals.get(key) ?? { sum: 0, count: 0 };
    t.sum += Math.round((JSON.parse(entry.payload) as { celsius: number }).celsius * 100);
    t.count += 1;
    totals.set(key, t);
    return { device, celsius: Math.round(t.sum / t.count) / 100, count: t.count, windowStart };
  });
}

async function stored(engine: StreamEngine, channel: string): Promise<Entry[]> {
  return (await engine.read(channel, { limit: 1000 })).entries;
}

describe('sensor-average', () => {
  it('publishes the running average per device and window, with the device from the body or the channel', async () => {
    const engine = memoryEngine();
    const { info } = await deployBlock(engine);
    expect(info).toMatchObject({ name: 'sensor-average', trigger: { kind: 'afterPublish', patterns: ['sensors.*'] } });
    for (const celsius of [20, 21, 22.5, -1.004]) await publish(engine, 'sensors.d1', { celsius });
    await publish(engine, 'sensors.d2', { device: 'kitchen', celsius: 18.25 });

    const d1 = await waitForMessages<Average>(engine, 'averages.d1', 4);
    const kitchen = await waitForMessages<Average>(engine, 'averages.kitchen', 1);
    const windowMs = 60_000; // block.json's windowSeconds
    const d1Readings = (await stored(engine, 'sensors.d1')).map((entry) => ({ entry, device: 'd1' }));
    const kitchenReadings = (await stored(engine, 'sensors.d2')).map((entry) => ({ entry, device: 'kitchen' }));
    expect(d1).toEqual(expectedAverages(d1Readings, windowMs));
    expect(kitchen).toEqual(expectedAverages(kitchenReadings, windowMs));
    // Within one window (the usual case) the values are these: 2 decimals, from centi-degree sums.
    if (new Set(d1.map((a) => a.windowStart)).size === 1) {
      expect(d1.map((a) => [a.celsius, a.count])).toEqual([
        [20, 1],
        [20.5, 2],
        [21.17, 3],
        [15.63, 4],
      ]);
    }
    expect(kitchen[0]).toMatchObject({ device: 'kitchen', celsius: 18.25, count: 1 });
    expect(d1.every((a) => a.windowStart % windowMs === 0)).toBe(true);
    expect(await messages(engine, 'averages.d2')).toEqual([]);
  });

  it('starts a new count and sum when the window changes', async () => {
    const engine = memoryEngine();
    await deployBlock(engine, { config: { windowSeconds: 1 } });
    const first = await publish(engine, 'sensors.d1', { celsius: 10 });
    // Wait for the clock to enter the next 1 s window, so the next reading is stored in it.
    await eventually(() => Math.floor(Date.now() / 1000) > Math.floor(first.time / 1000), { message: 'next window', timeoutMs: 10_000 });
    const second = await publish(engine, 'sensors.d1', { celsius: 30 });

    const out = await waitForMessages<Average>(engine, 'averages.d1', 2);
    expect(out).toEqual([
      { device: 'd1', celsius: 10, count: 1, windowStart: Math.floor(first.time / 1000) * 1000 },
      { device: 'd1', celsius: 30, count: 1, windowStart: Math.floor(second.time / 1000) * 1000 },
    ]);
  });

  it('logs and skips invalid readings without failing or dead-lettering them', async () => {
    const engine = memoryEngine();
    const { runner } = await deployBlock(engine);
    const invalid = [
      { celsius: 'hot' },
      { celsius: null },
      {},
      'twenty',
      [21],
      { celsius: 1e300 },
      { device: 'a b', celsius: 20 },
      { device: 7, celsius: 20 },
    ];
    for (const data of invalid) await publish(engine, 'sensors.d1', data);
    await publish(engine, 'sensors.d1', { celsius: 25 });

    await drained(engine, [runner], invalid.length + 1);
    expect(await messages<Average>(engine, 'averages.d1')).toEqual([expect.objectContaining({ celsius: 25, count: 1 })]);
    // Logging is fire-and-forget, so the lines may land just after the handler returned.
    const warns = await eventually(
      async () => {
        const logs = await messages<{ level: string; message: string; fields: { offset: number; reason: string } }>(
          engine,
          '$logs.sensor-average',
        );
        const w = logs.filter((l) => l.level === 'warn');
        return w.length === invalid.length ? w.sort((a, b) => a.fields.offset - b.fields.offset) : undefined;
      },
      { message: 'a warning per invalid reading', timeoutMs: 10_000 },
    );
    expect(warns.map((l) => l.fields.offset)).toEqual(invalid.map((_, i) => i + 1));
    expect(warns.map((l) => l.fields.reason)).toEqual([
      'celsius is not a finite number',
      'celsius is not a finite number',
      'celsius is not a finite number',
      'reading is not an object',
      'reading is not an object',
      'celsius is outside ±1000000',
      'device "a b" is not a valid channel segment',
      'device 7 is not a valid channel segment',
    ]);
    expect(warns[0]?.message).toBe('invalid reading skipped');
    expect(await messages(engine, '$dlq.sensor-average')).toEqual([]);
    expect(runner.list()[0]?.stats.errors).toBe(0);
  });

  it('shares the work between runners without losing a reading', async () => {
    const engine = memoryEngine();
    const runners = [(await deployBlock(engine, { consumer: 'a' })).runner, (await deployBlock(engine, { consumer: 'b' })).runner];
    const n = 100;
    for (let i = 0; i < n; i++) await publish(engine, 'sensors.d1', { celsius: 20 + (i % 7) / 4 });
    await drained(engine, runners, n);
    // One more reading once the others are counted: its average covers every reading of its window.
    await publish(engine, 'sensors.d1', { celsius: 30 });

    const out = await waitForMessages<Average>(engine, 'averages.d1', n + 1);
    const expected = expectedAverages(
      (await stored(engine, 'sensors.d1')).map((entry) => ({ entry, device: 'd1' })),
      60_000,
    );
    // Counters are atomic: every count of every window was handed out exactly once …
    const counts = (list: Average[]) => list.map((a) => `${a.windowStart}:${a.count}`).sort();
    expect(counts(out)).toEqual(counts(expected));
    // … and the last average is exact.
    expect(out.at(-1)).toEqual(expected.at(-1));
    expect(runners.reduce((sum, r) => sum + (r.list()[0]?.stats.invocations ?? 0), 0)).toBe(n + 1);
  });

  it('does not count a reading twice when its handler is retried after a failed publish', async () => {
    const engine = memoryEngine();
    let failures = 1;
    const flaky: PublishFn = async (channel, data, o) => {
      if (channel.startsWith('averages.') && failures-- > 0) throw new Error('store unavailable');
      const input: Parameters<StreamEngine['append']>[0] = { channel, payload: JSON.stringify(data), hops: o.hops };
      if (o.msgId !== undefined) input.msgId = o.msgId;
      return engine.append(input);
    };
    const { runner } = await deployBlock(engine, { publish: flaky });
    await publish(engine, 'sensors.d1', { celsius: 20 });
    await waitForMessages(engine, 'averages.d1', 1);
    await publish(engine, 'sensors.d1', { celsius: 22 });

    const out = await waitForMessages<Average>(engine, 'averages.d1', 2);
    const expected = expectedAverages(
      (await stored(engine, 'sensors.d1')).map((entry) => ({ entry, device: 'd1' })),
      60_000,
    );
    expect(out).toEqual(expected);
    expect(runner.list()[0]?.stats).toMatchObject({ invocations: 3, errors: 1 });
  });

  it('dead-letters readings when its config is invalid, naming the field', async () => {
    const engine = memoryEngine();
    await deployBlock(engine, { config: { windowSeconds: 'soon' } });
    await publish(engine, 'sensors.d1', { celsius: 20 });
    const [dead] = await waitForMessages<{ error: { message: string } }>(engine, '$dlq.sensor-average', 1);
    expect(dead?.error.message).toMatch(/config\.windowSeconds must be an integer ≥ 1/);
    expect(await messages(engine, 'averages.d1')).toEqual([]);
  });
});
