import { describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { ErrorCodes, TributaryClient } from '../src/index.js';
import { createToken, SECRET, TestBroker } from './helpers.js';

// Broker behaviour the client relies on, checked through the client. A failure here is a broker bug.
describe('broker contract', () => {
  it('closes every connection with 4001 once its token expires', async () => {
    // Broker bug this catches (packages/broker/src/session.ts, Session.#armExpiry): the expiry timer
    // is set for `expiresAt - Date.now()` ms and, when it fires, closes only if
    // `expiresAt <= Date.now()`. Node timers run on a monotonic clock and may fire up to ~1 ms
    // "early" by Date.now(); the check then fails and nothing re-arms the timer, so the connection
    // stays open, still receiving messages, with an expired token. It happens to a few percent of
    // connections, so this test opens many, spread over time so they fire at different sub-ms phases.
    const b = await TestBroker.start({ auth: { secret: SECRET } });
    const n = 300;
    const clients = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        await new Promise((r) => setTimeout(r, i * 7));
        const token = await createToken({ secret: SECRET, grants: { a: ['subscribe'] }, ttlSeconds: 2 });
        const c = new TributaryClient({ url: b.wsUrl, token, reconnect: false, pingIntervalMs: 0 });
        try {
          await c.connect();
          return c;
        } catch (err) {
          // On a loaded machine a connection can take longer than the token lives: the broker then
          // refuses it as expired, which is the behaviour under test too.
          expect(err).toMatchObject({ code: ErrorCodes.TOKEN_EXPIRED });
          await c.close();
          return undefined;
        }
      }),
    ).then((all) => all.filter((c): c is TributaryClient => c !== undefined));
    try {
      const expired: string[] = [];
      for (const c of clients) c.on('disconnected', (e) => expired.push(e.error?.code ?? `code ${e.code}`));
      // Every token is past its expiry 3 s after the last connection; allow one more second.
      await eventually(() => expired.length === clients.length, {
        message: 'every expired connection to be closed',
        timeoutMs: n * 7 + 4000,
      }).catch(() => {});
      const stillOpen = clients.filter((c) => c.state === 'connected').length;
      expect(stillOpen, `${stillOpen} of ${n} connections still open after their token expired`).toBe(0);
      expect(new Set(expired)).toEqual(new Set([ErrorCodes.TOKEN_EXPIRED]));
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  }, 30_000);
});
