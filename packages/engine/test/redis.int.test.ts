import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { isTributaryError } from '@tributary/protocol';
import { freePort, killAndWait, startRedis, type RedisServer } from '@tributary/testkit';
import { RedisEngine, type RedisEngineOptions } from '../src/index.js';
import { channelKeys } from '../src/redis/keys.js';
import { collector, range, uniqueChannel, until } from './helpers.js';

const keyPrefix = `t${Math.random().toString(36).slice(2, 8)}:`;
const engines: RedisEngine[] = [];
function engine(url: string, options: RedisEngineOptions = {}): RedisEngine {
  const e = new RedisEngine({ url, keyPrefix, ...options });
  engines.push(e);
  return e;
}

afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

describe('RedisEngine on one server', () => {
  let redis: RedisServer;
  let raw: Redis;
  beforeAll(async () => {
    redis = await startRedis({ honourEnv: false });
    raw = new Redis(redis.url);
  });
  afterAll(async () => {
    raw?.disconnect();
    await redis?.stop();
  });

  it('appends in exactly one round trip (one EVALSHA, nothing else)', async () => {
    const e = engine(redis.url);
    const ch = uniqueChannel('rt');
    await e.append({ channel: ch, payload: '0', msgId: 'warm-up' }); // loads the script on this connection
    const monitor = await raw.monitor();
    const seen: Array<{ args: string[]; source: string }> = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ args, source }));
    try {
      for (let i = 1; i <= 5; i++) await e.append({ channel: ch, payload: String(i), msgId: `m${i}` });
      await e.append({ channel: ch, payload: '9', msgId: 'm1' }); // a duplicate costs one round trip too
      await raw.echo('end-of-test');
      await until(() => seen.some((s) => s.args[1] === 'end-of-test'), 'the marker in MONITOR');
      const fromClients = seen.filter((s) => s.source !== 'lua' && s.args[1] !== 'end-of-test');
      expect(fromClients.map((s) => s.args[0]?.toLowerCase())).toEqual(Array(6).fill('evalsha'));
    } finally {
      monitor.disconnect();
    }
  });

  it('fills a gap from the stream when a notification was never published', async () => {
    const e = engine(redis.url);
    const ch = uniqueChannel('gap');
    const c = collector();
    const f = await e.follow(ch, c.listener);
    await e.append({ channel: ch, payload: '"one"' });
    await c.waitFor(1);
    // Offset 2 written behind the engine's back: stored, but no PUBLISH.
    const k = channelKeys(keyPrefix, ch);
    expect(await raw.hincrby(k.meta, 'last', 1)).toBe(2);
    await raw.xadd(k.stream, '2-0', 'payload', '"two"', 'time', String(Date.now()));
    await e.append({ channel: ch, payload: '"three"' });
    await c.waitFor(3);
    expect(c.entries.map((x) => [x.offset, x.payload])).toEqual([[1, '"one"'], [2, '"two"'], [3, '"three"']]);
    await f.close();
  });

  it('rejects ready() with UNAVAILABLE when nothing listens', async () => {
    const port = await freePort();
    const e = engine(`redis://127.0.0.1:${port}`, { commandTimeoutMs: 300 });
    const err = await e.ready().catch((x: unknown) => x);
    expect(isTributaryError(err, 'UNAVAILABLE')).toBe(true);
    const err2 = await e.append({ channel: 'x', payload: '1' }).catch((x: unknown) => x);
    expect(isTributaryError(err2, 'UNAVAILABLE')).toBe(true);
  });

  it('rejects calls after close() with CLOSED', async () => {
    const e = engine(redis.url);
    await e.close();
    const err = await e.append({ channel: 'x', payload: '1' }).catch((x: unknown) => x);
    expect(isTributaryError(err, 'CLOSED')).toBe(true);
  });
});

describe('RedisEngine across a redis-server outage', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    // AOF with fsync on every write: the log survives a kill -9, as a production Redis would.
    redis = await startRedis({ honourEnv: false, args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('fails fast with UNAVAILABLE while down, reconnects by itself, and the follow misses nothing', async () => {
    const fast = { commandTimeoutMs: 1_000, maxReconnectDelayMs: 100 };
    const a = engine(redis.url, fast);
    const ch = uniqueChannel('outage');
    const c = collector();
    const f = await a.follow(ch, c.listener);
    for (let i = 1; i <= 3; i++) await a.append({ channel: ch, payload: String(i) });
    await c.waitFor(3);

    await killAndWait(redis.process as NonNullable<RedisServer['process']>);
    const err = await a.append({ channel: ch, payload: '"lost"' }).catch((x: unknown) => x);
    expect(isTributaryError(err, 'UNAVAILABLE')).toBe(true);

    await redis.restart();
    // Appended by another node right away, likely before `a` has resubscribed: `a` must re-read.
    const b = engine(redis.url, fast);
    await b.append({ channel: ch, payload: '4' });
    await b.append({ channel: ch, payload: '5' });
    // `a` comes back on its own; the msgId makes the retried append idempotent.
    await until(async () => {
      try {
        await a.append({ channel: ch, payload: '6', msgId: 'six' });
        return true;
      } catch {
        return false;
      }
    }, 'engine a to reconnect', 10_000);
    await c.waitFor(6, 10_000);
    expect(c.offsets()).toEqual(range(1, 6));
    expect(c.entries.map((x) => x.payload)).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(new Set(c.entries.map((x) => x.epoch)).size).toBe(1);
    await f.close();
  });
});
