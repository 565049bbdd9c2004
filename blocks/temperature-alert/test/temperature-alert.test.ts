import type { StreamEngine } from '@tributary/engine';
import type { PublishFn } from '@tributary/runtime';
import { describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { deployBlock, drained, memoryEngine, messages, publish, waitForMessages } from './harness.js';

interface Alert {
  device: string;
  celsius: number;
  threshold: number;
  time: number;
}

/** Publishes averages for `device` and returns their stored times. */
async function averages(engine: StreamEngine, device: string, values: number[]): Promise<number[]> {
  const times: number[] = [];
  for (const celsius of values)
    times.push((await publish(engine, `averages.${device}`, { device, celsius, count: 1, windowStart: 0 })).time);
  return times;
}

describe('temperature-alert', () => {
  it('alerts once per crossing above the threshold and re-arms when the average is back at or below it', async () => {
    const engine = memoryEngine();
    const { runner, info } = await deployBlock(engine);
    expect(info).toMatchObject({ name: 'temperature-alert', trigger: { kind: 'afterPublish', patterns: ['averages.*'] } });
    const values = [25, 31, 32, 35, 29, 33, 30, 30.5];
    const times = await averages(engine, 'd1', values);
    await averages(engine, 'd2', [40]);

    await drained(engine, [runner], values.length + 1);
    const alerts = await messages<Alert>(engine, 'alerts.temperature');
    expect(alerts.filter((a) => a.device === 'd1')).toEqual([
      { device: 'd1', celsius: 31, threshold: 30, time: times[1] },
      { device: 'd1', celsius: 33, threshold: 30, time: times[5] },
      { device: 'd1', celsius: 30.5, threshold: 30, time: times[7] },
    ]);
    expect(alerts.filter((a) => a.device === 'd2')).toEqual([expect.objectContaining({ device: 'd2', celsius: 40 })]);
  });

  it('takes the threshold from its config and the device from the channel when the body has none', async () => {
    const engine = memoryEngine();
    await deployBlock(engine, { config: { threshold: -5 } });
    await publish(engine, 'averages.freezer', { celsius: -10 });
    await publish(engine, 'averages.freezer', { celsius: -4.5 });
    expect(await waitForMessages<Alert>(engine, 'alerts.temperature', 1)).toEqual([
      expect.objectContaining({ device: 'freezer', celsius: -4.5, threshold: -5 }),
    ]);
  });

  it('raises one alert when several runners see the same device hot at once', async () => {
    const engine = memoryEngine();
    const runners = [(await deployBlock(engine, { consumer: 'a' })).runner, (await deployBlock(engine, { consumer: 'b' })).runner];
    const hot = Array.from({ length: 100 }, (_, i) => 31 + i / 100);
    await averages(engine, 'd1', hot);
    await drained(engine, runners, hot.length);
    expect(await messages<Alert>(engine, 'alerts.temperature')).toEqual([expect.objectContaining({ device: 'd1' })]);
  });

  it('alerts on the retry when publishing the alert failed', async () => {
    const engine = memoryEngine();
    let failures = 1;
    const flaky: PublishFn = async (channel, data, o) => {
      if (channel === 'alerts.temperature' && failures-- > 0) throw new Error('store unavailable');
      return engine.append({ channel, payload: JSON.stringify(data), hops: o.hops, ...(o.msgId === undefined ? {} : { msgId: o.msgId }) });
    };
    const { runner } = await deployBlock(engine, { publish: flaky });
    await averages(engine, 'd1', [31, 32]);
    await drained(engine, [runner], 3);
    expect(await messages<Alert>(engine, 'alerts.temperature')).toEqual([expect.objectContaining({ device: 'd1', celsius: 31 })]);
    expect(runner.list()[0]?.stats).toMatchObject({ invocations: 3, errors: 1 });
  });

  it('logs and skips messages that are not averages', async () => {
    const engine = memoryEngine();
    const { runner } = await deployBlock(engine);
    const invalid = [{ celsius: '31' }, 'hot', { device: 3, celsius: 40 }];
    for (const data of invalid) await publish(engine, 'averages.d1', data);
    await drained(engine, [runner], invalid.length);
    expect(await messages(engine, 'alerts.temperature')).toEqual([]);
    expect(await messages(engine, '$dlq.temperature-alert')).toEqual([]);
    await eventually(
      async () =>
        (await messages<{ level: string }>(engine, '$logs.temperature-alert')).filter((l) => l.level === 'warn').length === invalid.length,
      { message: 'a warning per invalid message', timeoutMs: 10_000 },
    );
  });

  it('dead-letters averages when its config is invalid, naming the field', async () => {
    const engine = memoryEngine();
    await deployBlock(engine, { config: { threshold: 'warm' } });
    await publish(engine, 'averages.d1', { celsius: 40 });
    const [dead] = await waitForMessages<{ error: { message: string } }>(engine, '$dlq.temperature-alert', 1);
    expect(dead?.error.message).toMatch(/config\.threshold must be a finite number/);
  });
});
