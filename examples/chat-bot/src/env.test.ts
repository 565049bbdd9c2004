import { describe, expect, it } from 'vitest';
import { resolveBotEnv } from './env.js';

describe('resolveBotEnv', () => {
  it('defaults to the broker `pnpm start` runs', () => {
    expect(resolveBotEnv({})).toEqual({ url: 'http://127.0.0.1:7700' });
  });

  it('reads the URL, token, rooms and name', () => {
    expect(
      resolveBotEnv({ TRIBUTARY_URL: 'http://127.0.0.1:9', TRIBUTARY_TOKEN: 't', CHAT_ROOMS: 'lobby, kitchen', CHAT_BOT_NAME: 'rob' }),
    ).toEqual({ url: 'http://127.0.0.1:9', token: 't', rooms: ['lobby', 'kitchen'], name: 'rob' });
  });

  it('names a bad room', () => {
    expect(() => resolveBotEnv({ CHAT_ROOMS: 'lobby,a.b' })).toThrow(/CHAT_ROOMS: "a.b"/);
  });
});
