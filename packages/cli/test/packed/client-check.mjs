// Copied into a project that installed @tributary/client from its tarball with plain npm: no
// workspace, no TypeScript, no loader. It does what the client README shows and prints one JSON
// line per step; the test drives it (it restarts the broker when asked, to force a reconnect).
import { createInterface } from 'node:readline';
import { ErrorCodes, isTributaryError, TributaryClient } from '@tributary/client';

const { TRIBUTARY_WS_URL: url, TRIBUTARY_TOKEN: token, CHANNEL: channel, FORBIDDEN_CHANNEL: forbidden } = process.env;
const say = (step) => process.stdout.write(`${JSON.stringify(step)}\n`);
const input = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

// Counts sockets made through the global WebSocket, so the test knows which one the client chose.
let globalSockets = 0;
if (typeof globalThis.WebSocket === 'function') {
  const Global = globalThis.WebSocket;
  globalThis.WebSocket = class extends Global {
    constructor(...args) {
      super(...args);
      globalSockets++;
    }
  };
}

const options = { url, token, reconnect: { minDelayMs: 50, maxDelayMs: 500 } };
const sub = new TributaryClient(options);
const pub = new TributaryClient(options);
await Promise.all([sub.connect(), pub.connect()]);
const got = [];
const recoveries = [];
let drops = 0;
sub.on('disconnected', () => drops++);
const until = async (cond) => {
  while (!cond()) await new Promise((r) => setTimeout(r, 20));
};
await sub.subscribe(channel, (msg) => got.push(msg.data), { onRecovery: (r) => recoveries.push(r.recovered) });
for (let i = 1; i <= 3; i++) await pub.publish(channel, i);
await until(() => got.length === 3);
say({ step: 'live', got });

say({ step: 'restart-broker' });
await input.next();
await until(() => drops > 0 && sub.state === 'connected' && pub.state === 'connected');
for (let i = 4; i <= 6; i++) await pub.publish(channel, i);
await until(() => got.length >= 6);
say({ step: 'resumed', got, recoveries });

try {
  await pub.publish(forbidden, { nope: true });
  say({ step: 'forbidden', code: null });
} catch (err) {
  say({ step: 'forbidden', code: isTributaryError(err, ErrorCodes.FORBIDDEN) ? err.code : String(err) });
}
await Promise.all([sub.close(), pub.close()]);
say({ step: 'done', globalSockets });
