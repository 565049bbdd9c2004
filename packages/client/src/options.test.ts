import { describe, expect, it } from 'vitest';
import { DEFAULT_PING_INTERVAL_MS, DEFAULT_REQUEST_TIMEOUT_MS, resolveClientOptions, type ClientOptions } from './options.js';

describe('resolveClientOptions', () => {
  it('fills in defaults', () => {
    const r = resolveClientOptions({ url: 'ws://127.0.0.1:7700/v1/ws' });
    expect(r).toMatchObject({
      url: 'ws://127.0.0.1:7700/v1/ws',
      token: undefined,
      reconnect: { minDelayMs: 250, maxDelayMs: 10_000, factor: 2 },
      requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
      connectTimeoutMs: 10_000,
      pingIntervalMs: DEFAULT_PING_INTERVAL_MS,
      waitOnFirstConnect: false,
    });
  });

  it('turns http(s) base URLs into the WebSocket endpoint', () => {
    expect(resolveClientOptions({ url: 'http://localhost:7700' }).url).toBe('ws://localhost:7700/v1/ws');
    expect(resolveClientOptions({ url: 'https://example.com/' }).url).toBe('wss://example.com/v1/ws');
    expect(resolveClientOptions({ url: 'wss://example.com/custom/ws' }).url).toBe('wss://example.com/custom/ws');
  });

  it('takes a list of endpoints, normalized, the first being url', () => {
    const r = resolveClientOptions({ url: ['http://a:1', 'ws://b:2/v1/ws'] });
    expect(r.urls).toEqual(['ws://a:1/v1/ws', 'ws://b:2/v1/ws']);
    expect(r.url).toBe('ws://a:1/v1/ws');
    expect(resolveClientOptions({ url: 'ws://a:1' }).urls).toEqual(['ws://a:1/v1/ws']);
  });

  it('keeps reconnect: false and merges partial reconnect options', () => {
    expect(resolveClientOptions({ url: 'ws://h', reconnect: false }).reconnect).toBe(false);
    expect(resolveClientOptions({ url: 'ws://h', reconnect: { maxDelayMs: 500 } }).reconnect).toEqual({
      minDelayMs: 250,
      maxDelayMs: 500,
      factor: 2,
    });
  });

  it.each<[string, Partial<ClientOptions> & { url?: unknown }, RegExp]>([
    ['missing url', { url: undefined }, /^url is required/],
    ['empty url list', { url: [] }, /^url must name at least one endpoint/],
    ['bad url in list', { url: ['ws://a', 'ftp://b'] }, /^url must start with/],
    ['bad scheme', { url: 'ftp://h' }, /^url must start with/],
    ['unparseable url', { url: 'not a url' }, /^url is not a valid URL/],
    ['token in url', { url: 'ws://h/v1/ws?token=x' }, /^url must not carry the token/],
    ['bad token', { url: 'ws://h', token: 42 as unknown as string }, /^token must be/],
    ['empty token', { url: 'ws://h', token: '' }, /^token must not be empty/],
    ['bad WebSocket', { url: 'ws://h', WebSocket: {} as never }, /^WebSocket must be a constructor/],
    ['zero timeout', { url: 'ws://h', requestTimeoutMs: 0 }, /^requestTimeoutMs must be a positive number/],
    ['negative ping', { url: 'ws://h', pingIntervalMs: -1 }, /^pingIntervalMs must be a number ≥ 0/],
    ['max < min', { url: 'ws://h', reconnect: { minDelayMs: 100, maxDelayMs: 10 } }, /^reconnect.maxDelayMs \(10\) must be ≥/],
    ['factor < 1', { url: 'ws://h', reconnect: { factor: 0.5 } }, /^reconnect.factor must be a number ≥ 1/],
  ])('names the bad field: %s', (_, options, message) => {
    expect(() => resolveClientOptions(options as ClientOptions)).toThrow(TypeError);
    expect(() => resolveClientOptions(options as ClientOptions)).toThrow(message);
  });
});
