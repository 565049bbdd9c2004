// Simulated devices plus the alert dashboard, until Ctrl-C (or --readings N per device):
//   node --import tsx examples/iot-sensors/src/main.ts --hot d2
import { parseArgs } from 'node:util';
import { formatAlert, startDashboard } from './dashboard.js';
import { runDevices } from './devices.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    devices: { type: 'string' },
    hot: { type: 'string' },
    interval: { type: 'string' },
    readings: { type: 'string' },
    quiet: { type: 'boolean' },
  },
});
const url = values.url ?? (process.env.TRIBUTARY_URL || 'http://127.0.0.1:7700');
const token = process.env.TRIBUTARY_TOKEN || undefined;
const devices = (values.devices ?? 'd1,d2,d3')
  .split(',')
  .map((d) => d.trim())
  .filter((d) => d !== '');
const hot = values.hot ?? (process.env.HOT_DEVICE || undefined);
const int = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new TypeError(`--${name} must be a positive integer, got ${v}`);
  return n;
};
const intervalMs = int('interval', values.interval) ?? 1000;
const readings = int('readings', values.readings);

const dashboard = await startDashboard({ url, ...(token === undefined ? {} : { token }), onAlert: (a) => console.log(formatAlert(a)) });
const run = runDevices({
  url,
  devices,
  intervalMs,
  ...(token === undefined ? {} : { token }),
  ...(hot === undefined ? {} : { hot }),
  ...(readings === undefined ? {} : { readings }),
  onReading: (r, t) => {
    if (values.quiet !== true) console.log(`${r.device} (${t}) ${r.celsius} °C`);
  },
});
console.log(`${devices.length} devices publishing to ${url} every ${intervalMs} ms${hot === undefined ? '' : `; ${hot} runs hot`}`);
const stop = new Promise<void>((resolve) => {
  process.once('SIGINT', resolve);
  process.once('SIGTERM', resolve);
});
try {
  await Promise.race([run.done, stop]);
  if (readings !== undefined) await new Promise((r) => setTimeout(r, 1000)); // let the last alert arrive
} finally {
  await run.stop();
  await dashboard.close();
}
