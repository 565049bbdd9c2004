import { TributaryClient } from '@tributary/client';

/** How a simulated device reaches the broker. */
export type Transport = 'ws' | 'http';

/** What a device publishes to `sensors.<device>`; the shape blocks/sensor-average reads. */
export type Reading = { device: string; celsius: number };

/** Options of {@link runDevices}. */
export interface DevicesOptions {
  /** The broker, `http://host:port`. */
  url: string;
  /** A token with publish on `sensors.*`; none for an insecure broker. */
  token?: string;
  /** Device names: channel segments (`A-Z a-z 0-9 _ - : @ =`). */
  devices: string[];
  /** The device that runs hot (readings around 45 °C, above the alert threshold of 30). */
  hot?: string;
  /** Time between two readings of a device, ms. @defaultValue 1000 */
  intervalMs?: number;
  /** Readings per device, then stop. @defaultValue unlimited (until `stop()`) */
  readings?: number;
  /** Which transport a device uses. @defaultValue WebSocket for the 1st, 3rd, … device, HTTP for the 2nd, 4th, … */
  transport?: (device: string, index: number) => Transport;
  /** Called after each stored reading. */
  onReading?: (reading: Reading, transport: Transport) => void;
}

/** Running devices. */
export interface Devices {
  /** Settles when every device sent its `readings` (or was stopped); rejects on the first failure. */
  done: Promise<void>;
  stop(): Promise<void>;
}

const DEVICE = /^[A-Za-z0-9_\-:@=]{1,64}$/;

/**
 * The k-th reading of a device: deterministic, so a run (and a test) is reproducible. Normal devices
 * stay between 19 and 26 °C; the hot one between 45 and 47.
 */
export function celsiusOf(index: number, k: number, hot: boolean): number {
  if (hot) return 45 + (k % 3);
  return 19 + (index % 5) + (k % 4) * 0.5;
}

/**
 * Starts one loop per device, each publishing to `sensors.<device>`: over a WebSocket with the
 * Tributary client, or with `POST /v1/channels/sensors.<device>/messages`. HTTP publishes carry a
 * msgId derived from the device and reading number, so a retried POST is stored once.
 */
export function runDevices(o: DevicesOptions): Devices {
  for (const d of o.devices) if (!DEVICE.test(d)) throw new TypeError(`devices: ${JSON.stringify(d)} is not a channel segment`);
  if (o.hot !== undefined && !o.devices.includes(o.hot)) throw new TypeError(`hot: ${JSON.stringify(o.hot)} is not one of the devices`);
  const interval = o.intervalMs ?? 1000;
  const transportOf = o.transport ?? ((_d: string, i: number) => (i % 2 === 0 ? 'ws' : 'http'));
  const base = o.url
    .replace(/^ws/, 'http')
    .replace(/\/v1\/ws$/, '')
    .replace(/\/$/, '');
  const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const controller = new AbortController();
  const clients: TributaryClient[] = [];

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (controller.signal.aborted) return resolve();
      const t = setTimeout(resolve, ms);
      controller.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });

  const viaHttp = async (reading: Reading, msgId: string): Promise<void> => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
    const res = await fetch(`${base}/v1/channels/sensors.${reading.device}/messages`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ data: reading, msgId }),
      signal: controller.signal,
    });
    if (res.status !== 201 && res.status !== 200) throw new Error(`POST sensors.${reading.device}: ${res.status} ${await res.text()}`);
  };

  const device = async (name: string, index: number): Promise<void> => {
    const transport = transportOf(name, index);
    let client: TributaryClient | undefined;
    if (transport === 'ws') {
      client = new TributaryClient({ url: o.url, ...(o.token === undefined ? {} : { token: o.token }) });
      clients.push(client);
      await client.connect();
    }
    for (let k = 0; o.readings === undefined || k < o.readings; k++) {
      if (controller.signal.aborted) return;
      const reading: Reading = { device: name, celsius: celsiusOf(index, k, name === o.hot) };
      try {
        if (client !== undefined) await client.publish(`sensors.${name}`, reading);
        else await viaHttp(reading, `${run}:${name}:${k}`);
      } catch (err) {
        if (controller.signal.aborted) return;
        throw err;
      }
      o.onReading?.(reading, transport);
      await sleep(interval);
    }
  };

  const done = Promise.all(o.devices.map((d, i) => device(d, i))).then(() => {});
  done.catch(() => {}); // observed by the caller; avoid an unhandled rejection if it only calls stop()
  return {
    done,
    async stop() {
      controller.abort();
      await done.catch(() => {});
      await Promise.all(clients.map((c) => c.close()));
    },
  };
}
