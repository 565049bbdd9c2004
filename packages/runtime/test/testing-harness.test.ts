import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { testBlock, type BlockHarness } from '../src/testing.js';

// The harness block authors import as `@tributary/runtime/testing`.

const entry = fileURLToPath(new URL('./fixtures/weather.ts', import.meta.url));
let harness: BlockHarness | undefined;
afterEach(async () => harness?.close());

describe('testBlock', () => {
  it('runs the handler in the sandbox and records publish, fetch, kv and logs', async () => {
    harness = await testBlock(entry, {
      secrets: { KEY: 'k-123456' },
      fetch: (url) => ({ body: { celsius: url.includes('Oslo') ? -3 : 20 } }),
    });
    expect(harness.trigger).toEqual({ kind: 'afterPublish', patterns: ['chat.commands'] });
    const r = await harness.run({ data: { room: 'lobby', city: 'Oslo' } });
    expect(r.error).toBeUndefined();
    expect(r.published).toEqual([{ channel: 'chat.lobby', data: { text: 'Oslo: -3°C' }, hops: 1 }]);
    expect(r.fetches).toEqual([{ url: 'https://api.weather.test/now?city=Oslo', method: 'GET' }]);
    expect(r.logs).toEqual([{ level: 'info', message: 'answered', fields: { city: 'Oslo', asked: 1 } }]);
    await harness.run({ data: { room: 'lobby', city: 'Oslo' } });
    expect(await harness.kv('asked:Oslo')).toBe('2');
  });

  it('reports failures with the production error codes', async () => {
    harness = await testBlock(entry);
    const r = await harness.run({ data: { room: 'lobby', city: 'Oslo' } });
    expect(r.error).toMatchObject({ code: 'HOST_REFUSED', message: expect.stringContaining('no fetch responder') });
    expect(r.published).toEqual([]);
  });
});
