import { defineBlock, type BlockMessage, type JsonValue } from '@tributary/block';

/** Configuration of sensor-average (block.json `config`). */
export interface SensorAverageConfig {
  /** Length of an averaging window, seconds; windows are aligned to the Unix epoch. @defaultValue 60 */
  windowSeconds: number;
}

/** Default window length, seconds. */
export const DEFAULT_WINDOW_SECONDS = 60;

/** What the block publishes to `averages.<device>`. */
export type Average = {
  device: string;
  /** Mean of the window's readings so far, rounded to 2 decimals. */
  celsius: number;
  /** Readings in the window so far, this one included. */
  count: number;
  /** Start of the window, ms since the Unix epoch. */
  windowStart: number;
};

// A device name becomes a channel segment (`averages.<device>`): the protocol's segment alphabet,
// kept well under the 200-character channel limit.
const DEVICE = /^[A-Za-z0-9_\-:@=]{1,64}$/;
// Readings are summed as integer centi-degrees (kv counters are integers); past this a window's sum
// could leave the safe-integer range, so such a reading is treated as invalid.
const MAX_ABS_CELSIUS = 1_000_000;

/** Validates the block's config once per invocation, naming the bad field. */
export function resolveSensorAverageConfig(config: Readonly<Record<string, JsonValue>>): SensorAverageConfig {
  const windowSeconds = config.windowSeconds ?? DEFAULT_WINDOW_SECONDS;
  if (typeof windowSeconds !== 'number' || !Number.isSafeInteger(windowSeconds) || windowSeconds < 1) {
    throw new TypeError(`config.windowSeconds must be an integer ≥ 1, got ${JSON.stringify(windowSeconds)}`);
  }
  return { windowSeconds };
}

/** A valid reading, or why it is not one. */
export function parseReading(msg: Pick<BlockMessage, 'channel' | 'data'>): { device: string; centi: number } | { invalid: string } {
  const data = msg.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { invalid: 'reading is not an object' };
  const celsius = data.celsius;
  if (typeof celsius !== 'number' || !Number.isFinite(celsius)) return { invalid: 'celsius is not a finite number' };
  if (Math.abs(celsius) > MAX_ABS_CELSIUS) return { invalid: `celsius is outside ±${MAX_ABS_CELSIUS}` };
  const device = data.device ?? msg.channel.slice(msg.channel.lastIndexOf('.') + 1);
  if (typeof device !== 'string' || !DEVICE.test(device))
    return { invalid: `device ${JSON.stringify(device)} is not a valid channel segment` };
  return { device, centi: Math.round(celsius * 100) };
}

/**
 * Running average per device over the current time window. The window's sum and count live in two
 * kv counters bumped with `incr`, so any number of runners can share the consumer group without
 * losing a reading. A marker per message records what it contributed, so a retry (say, after a
 * failed publish) republishes instead of counting the reading twice.
 */
export default defineBlock({
  name: 'sensor-average',
  trigger: { afterPublish: 'sensors.*' },
  publishes: ['averages.*'],
  async handle(msg, ctx) {
    const { windowSeconds } = resolveSensorAverageConfig(ctx.config);
    const reading = parseReading(msg);
    if ('invalid' in reading) {
      // Skipped, not thrown: a malformed reading would fail every retry and end in the dead letters.
      ctx.log.warn('invalid reading skipped', { channel: msg.channel, offset: msg.offset, reason: reading.invalid });
      return;
    }
    const windowMs = windowSeconds * 1000;
    // The stored time, not the clock: a redelivered message lands in the window it was stored in.
    const windowStart = Math.floor(msg.time / windowMs) * windowMs;
    const ttl = { ttlSeconds: windowSeconds * 2 };
    const marker = `done:${msg.channel}:${msg.epoch}:${msg.offset}`;
    let totals = await ctx.kv.getJson<{ sum: number; count: number }>(marker);
    if (totals === undefined) {
      // Two counters are not one atomic step: with concurrent runners this snapshot may pair a sum and
      // a count a reading apart. The stored totals stay exact; the next average reflects them.
      const sum = await ctx.kv.incr(`sum:${reading.device}:${windowStart}`, reading.centi, ttl);
      const count = await ctx.kv.incr(`count:${reading.device}:${windowStart}`, 1, ttl);
      totals = { sum, count };
      await ctx.kv.setJson(marker, totals, ttl);
    }
    const average: Average = {
      device: reading.device,
      celsius: Math.round(totals.sum / totals.count) / 100,
      count: totals.count,
      windowStart,
    };
    // The msgId makes a republish after a crash between publish and ack land once.
    await ctx.publish(`averages.${reading.device}`, average, { msgId: `avg:${msg.channel}:${msg.epoch}:${msg.offset}` });
  },
});
