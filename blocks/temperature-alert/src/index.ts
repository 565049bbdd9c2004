import { defineBlock, type BlockMessage, type JsonValue } from '@tributary/block';

/** Configuration of temperature-alert (block.json `config`). */
export interface TemperatureAlertConfig {
  /** An average above this many °C raises an alert. @defaultValue 30 */
  threshold: number;
}

/** Default threshold, °C. */
export const DEFAULT_THRESHOLD = 30;

/** The channel alerts go to. */
export const ALERT_CHANNEL = 'alerts.temperature';

/** What the block publishes to {@link ALERT_CHANNEL}. */
export type TemperatureAlert = {
  device: string;
  /** The average that crossed the threshold. */
  celsius: number;
  threshold: number;
  /** When that average was stored, ms since the Unix epoch. */
  time: number;
};

/** Validates the block's config, naming the bad field. */
export function resolveTemperatureAlertConfig(config: Readonly<Record<string, JsonValue>>): TemperatureAlertConfig {
  const threshold = config.threshold ?? DEFAULT_THRESHOLD;
  if (typeof threshold !== 'number' || !Number.isFinite(threshold)) {
    throw new TypeError(`config.threshold must be a finite number, got ${JSON.stringify(threshold)}`);
  }
  return { threshold };
}

/** The device and average of an `averages.<device>` message, or undefined when it is not one. */
export function parseAverage(msg: Pick<BlockMessage, 'channel' | 'data'>): { device: string; celsius: number } | undefined {
  const data = msg.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const celsius = data.celsius;
  const device = data.device ?? msg.channel.slice(msg.channel.lastIndexOf('.') + 1);
  if (typeof celsius !== 'number' || !Number.isFinite(celsius) || typeof device !== 'string' || device === '') return undefined;
  return { device, celsius };
}

/**
 * Alerts once per crossing: the first average above the threshold raises an alert, later hot ones do
 * not, and an average at or below the threshold re-arms the device. The "hot" state is a kv counter
 * bumped with `incr`, so when several runners see hot averages of one device at once exactly one of
 * them gets 1 and alerts.
 */
export default defineBlock({
  name: 'temperature-alert',
  trigger: { afterPublish: 'averages.*' },
  publishes: [ALERT_CHANNEL],
  async handle(msg, ctx) {
    const { threshold } = resolveTemperatureAlertConfig(ctx.config);
    const avg = parseAverage(msg);
    if (avg === undefined) {
      ctx.log.warn('invalid average skipped', { channel: msg.channel, offset: msg.offset });
      return;
    }
    const hotKey = `hot:${avg.device}`;
    if (avg.celsius <= threshold) {
      await ctx.kv.del(hotKey);
      return;
    }
    if ((await ctx.kv.incr(hotKey)) !== 1) return;
    const alert: TemperatureAlert = { device: avg.device, celsius: avg.celsius, threshold, time: msg.time };
    try {
      // The msgId makes a redelivery after a crash between publish and ack store the alert once.
      await ctx.publish(ALERT_CHANNEL, alert, { msgId: `alert:${msg.channel}:${msg.epoch}:${msg.offset}` });
    } catch (err) {
      // Un-mark so the retry of this message alerts instead of seeing the device already hot.
      await ctx.kv.del(hotKey);
      throw err;
    }
  },
});
