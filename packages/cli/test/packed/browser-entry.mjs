// Bundled with esbuild for the browser from a project that installed @tributary/client with npm.
import { TributaryClient } from '@tributary/client';

window.roundTrip = async (url, channel) => {
  const client = new TributaryClient({ url });
  await client.connect();
  const got = [];
  await client.subscribe(channel, (msg) => got.push(msg.data));
  await client.publish(channel, { from: 'chromium', n: 1 });
  await client.publish(channel, { from: 'chromium', n: 2 });
  while (got.length < 2) await new Promise((r) => setTimeout(r, 20));
  await client.close();
  return { got, hasGlobalWebSocket: typeof WebSocket === 'function' };
};
