import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { isTributaryError } from '@tributary/protocol';
import { eventually, freePort, killAndWait, startRedis, type RedisServer } from '@tributary/testkit';
import { RedisEngine, type RedisEngineOptions } from '../src/redis/index.js';
import { channelKeys, dedupKey, groupChannelsKey, groupRegistryKey } from '../src/redis/keys.js';
import { REGISTRY_REFRESH_MS } from '../src/redis/registry.js';
import { collector, range, uniqueChannel } from './helpers.js';

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

/** The consumer-group registry's periodic refresh, which may tick during a MONITOR window; not part of an append. */
function isRegistryRefresh(args: string[]): boolean {
  return args[0]?.toLowerCase() === 'hgetall' && args[1] === groupRegistryKey(keyPrefix);
}

/**
 * Addresses of connections in subscriber mode (an engine's subscriber: it holds the registry-change
 * subscription and may PING for liveness), whose traffic is not part of an append.
 */
async function subscriberAddresses(raw: Redis): Promise<Set<string>> {
  const list = (await raw.client('LIST')) as string;
  const out = new Set<string>();
  for (const line of list.split('\n')) {
    const f = Object.fromEntries(line.split(' ').map((kv) => kv.split('=') as [string, string]));
    if (Number(f.sub ?? 0) + Number(f.psub ?? 0) > 0 && f.addr !== undefined) out.add(f.addr);
  }
  return out;
}

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
    const subscribers = await subscriberAddresses(raw);
    const monitor = await raw.monitor();
    const seen: Array<{ args: string[]; source: string }> = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ args, source }));
    try {
      for (let i = 1; i <= 5; i++) await e.append({ channel: ch, payload: String(i), msgId: `m${i}` });
      await e.append({ channel: ch, payload: '9', msgId: 'm1' }); // a duplicate costs one round trip too
      await raw.echo('end-of-test');
      await eventually(() => seen.some((s) => s.args[1] === 'end-of-test'), { message: 'the marker in MONITOR' });
      const fromClients = seen.filter(
        (s) => s.source !== 'lua' && !subscribers.has(s.source) && s.args[1] !== 'end-of-test' && !isRegistryRefresh(s.args),
      );
      expect(fromClients.map((s) => s.args[0]?.toLowerCase())).toEqual(Array(6).fill('evalsha'));
    } finally {
      monitor.disconnect();
    }
  });

  it("stores one connection's appends alternating over 10 channels in one EVALSHA per round, in the order they were issued", async () => {
    // A gateway or a bot: one client connection (one order key) publishing round-robin over 10
    // channels. Each append is held behind the previous one (another channel) until that one has its
    // place on the connection; a place in this turn's call is such a place, so a round over the 10
    // channels goes in one call (the next round waits: one batch per channel at Redis at a time).
    // It was one call per append.
    const e = engine(redis.url);
    const channels = range(0, 9).map((i) => uniqueChannel(`rr${i}`));
    for (const ch of channels) await e.append({ channel: ch, payload: 'warm' });
    const subscribers = await subscriberAddresses(raw);
    const monitor = await raw.monitor();
    const seen: Array<{ args: string[]; source: string }> = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ args, source }));
    try {
      const results = await Promise.all(
        range(0, 39).map((i) => e.append({ channel: channels[i % 10] as string, payload: String(i), orderKey: 'conn-1' })),
      );
      await raw.echo('end-of-test');
      await eventually(() => seen.some((s) => s.args[1] === 'end-of-test'), { message: 'the marker in MONITOR' });
      const fromClients = seen.filter(
        (s) => s.source !== 'lua' && !subscribers.has(s.source) && s.args[1] !== 'end-of-test' && !isRegistryRefresh(s.args),
      );
      expect(fromClients.map((s) => s.args[0]?.toLowerCase())).toEqual(Array(4).fill('evalsha'));
      // Stored in issue order: the XADDs run in the order the appends were made.
      const xadds = seen.filter((s) => s.source === 'lua' && s.args[0]?.toLowerCase() === 'xadd');
      expect(xadds.map((s) => s.args[s.args.indexOf('payload') + 1])).toEqual(range(0, 39).map(String));
      expect(results.map((r) => r.offset)).toEqual(range(0, 39).map((i) => 2 + Math.floor(i / 10)));
    } finally {
      monitor.disconnect();
    }
  });

  it('stores appends issued together in one EVALSHA for every channel due (group commit), up to 64 per channel', async () => {
    const e = engine(redis.url);
    const a = uniqueChannel('gc.a');
    const b = uniqueChannel('gc.b');
    await e.append({ channel: a, payload: '0' }); // loads the script on this connection
    await e.append({ channel: b, payload: '0' });
    const subscribers = await subscriberAddresses(raw);
    const monitor = await raw.monitor();
    const seen: Array<{ args: string[]; source: string }> = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ args, source }));
    try {
      // One turn: 100 appends to a (64 + 36: the second batch waits for the first), 10 to b, which
      // goes with a's first batch.
      const results = await Promise.all([
        ...range(1, 100).map((i) => e.append({ channel: a, payload: String(i), msgId: `a${i}` })),
        ...range(1, 10).map((i) => e.append({ channel: b, payload: String(i) })),
      ]);
      expect(results.map((r) => r.offset)).toEqual([...range(2, 101), ...range(2, 11)]);
      await raw.echo('end-of-test');
      await eventually(() => seen.some((s) => s.args[1] === 'end-of-test'), { message: 'the marker in MONITOR' });
      const fromClients = seen.filter(
        (s) => s.source !== 'lua' && !subscribers.has(s.source) && s.args[1] !== 'end-of-test' && !isRegistryRefresh(s.args),
      );
      expect(fromClients.map((s) => s.args[0]?.toLowerCase())).toEqual(Array(2).fill('evalsha'));
      // EVALSHA sha numkeys (stream, meta, a dedup key per entry with a msgId) per channel: a's 64
      // and b's 10 (no msgIds: no keys), then a's 36.
      expect(fromClients.map((s) => Number(s.args[2]))).toEqual([2 + 64 + 2, 2 + 36]);
      // A plain entry is two arguments (payload, kind ''), one with a msgId five. (EVALSHA sha
      // numkeys, the keys, 8 call arguments, then per channel its name, 3 topics and their count,
      // the group count and the entry count.)
      expect(fromClients[0]?.args.length).toBe(3 + (2 + 64 + 2) + 8 + 2 * 7 + 64 * 5 + 10 * 2);
      const published = seen.filter((s) => s.source === 'lua' && s.args[0]?.toLowerCase() === 'publish');
      // One notification per entry on the channel's topic; none on the pattern feeds, which no
      // connection holds here.
      expect(published.filter((s) => s.args[1]?.includes(':m:'))).toHaveLength(110);
      expect(published.filter((s) => s.args[1]?.includes(':f:'))).toHaveLength(0);
    } finally {
      monitor.disconnect();
    }
  });

  it('runs four commands for a lone append to a live channel: HMGET, HINCRBY, XADD, PUBLISH', async () => {
    const e = engine(redis.url);
    const ch = uniqueChannel('lone');
    await e.append({ channel: ch, payload: '0' }); // creates the meta hash and the stream
    const monitor = await raw.monitor();
    const seen: Array<{ args: string[]; source: string }> = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ args, source }));
    try {
      await e.append({ channel: ch, payload: '1' });
      await e.append({ channel: ch, payload: '2' });
      await raw.echo('end-of-test');
      await eventually(() => seen.some((s) => s.args[1] === 'end-of-test'), { message: 'the marker in MONITOR' });
      const inScript = seen.filter((s) => s.source === 'lua').map((s) => s.args[0]?.toLowerCase());
      // No EXISTS (the stream's absence shows in XADD NOMKSTREAM's reply), no feed PUBLISH (no
      // pattern is held: asked once per call). Expiries are refreshed at most once per 1/64 of maxAge.
      const per = ['time', 'hmget', 'pubsub', 'hincrby', 'xadd', 'publish'];
      expect(inScript).toEqual([...per, ...per]);
    } finally {
      monitor.disconnect();
    }
  });

  it('publishes to a pattern feed only while a connection subscribes to it', async () => {
    const appender = engine(redis.url);
    const follower = engine(redis.url);
    const head = `feed${Math.random().toString(36).slice(2, 8)}`;
    const ch = `${head}.d1.temp`;
    await appender.append({ channel: ch, payload: '0' });
    const monitor = await raw.monitor();
    const seen: Array<{ args: string[]; source: string }> = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ args, source }));
    const feedPublishes = (): string[] =>
      seen
        .filter((s) => s.source === 'lua' && s.args[0]?.toLowerCase() === 'publish' && s.args[1]?.includes(':f:'))
        .map((s) => s.args[1] ?? '');
    try {
      await appender.append({ channel: ch, payload: '1' });
      const c = collector();
      const f = await follower.followPattern(`${head}.>`, c.listener);
      await appender.append({ channel: ch, payload: '2' });
      await c.waitFor(1);
      await f.close();
      await eventually(async () => Number(((await raw.call('PUBSUB', 'NUMSUB', `${keyPrefix}f:${head}`)) as [string, number])[1]) === 0, {
        message: 'the feed to be unsubscribed',
      });
      await appender.append({ channel: ch, payload: '3' });
      await raw.echo('end-of-test');
      await eventually(() => seen.some((s) => s.args[1] === 'end-of-test'), { message: 'the marker in MONITOR' });
      expect(c.entries.map((x) => x.payload)).toEqual(['2']);
      expect(feedPublishes()).toEqual([`${keyPrefix}f:${head}`]);
    } finally {
      monitor.disconnect();
    }
  });

  it('delivers to a pattern every append stored after its follow resolved, on another node, at once', async () => {
    // The race a feed registry would have: the follow resolves, and the very next append of another
    // node must already publish to the feed it subscribed. 40 fresh feeds, each appended to at once.
    const appender = engine(redis.url);
    const follower = engine(redis.url);
    await appender.append({ channel: uniqueChannel('race'), payload: '0' }); // loads the script
    const run = `race${Math.random().toString(36).slice(2, 8)}`;
    for (let i = 0; i < 40; i++) {
      const c = collector();
      // Every fifth one reads the all-channels feed (a leading wildcard).
      const pattern = i % 5 === 4 ? `*.${run}x${i}.>` : `${run}h${i}.>`;
      const channel = i % 5 === 4 ? `a.${run}x${i}.t` : `${run}h${i}.t`;
      const f = await follower.followPattern(pattern, c.listener);
      await appender.append({ channel, payload: String(i) });
      await c.waitFor(1);
      expect(c.entries.map((x) => [x.channel, x.payload])).toEqual([[channel, String(i)]]);
      await f.close();
    }
  });

  it('stores a batch mixing plain entries, msgIds, hops and meta in one call, each with its own fields', async () => {
    const e = engine(redis.url);
    const ch = uniqueChannel('mix');
    const other = uniqueChannel('mix.other');
    const c = collector();
    const f = await e.follow(ch, c.listener);
    // One turn: one script call, entries of different lengths in both channels' sections.
    const results = await Promise.all([
      e.append({ channel: ch, payload: '1' }),
      e.append({ channel: ch, payload: '2', msgId: 'a', hops: 3 }),
      e.append({ channel: other, payload: '9', msgId: 'a' }),
      e.append({ channel: ch, payload: '3', hops: 2 }),
      e.append({ channel: ch, payload: '4', meta: 'm4' }),
      e.append({ channel: ch, payload: '5', msgId: 'a' }),
      e.append({ channel: ch, payload: '6', msgId: 'b', meta: 'm6' }),
      e.append({ channel: ch, payload: '7' }),
    ]);
    expect(results.map((r) => [r.offset, r.duplicate])).toEqual([
      [1, false],
      [2, false],
      [1, false],
      [3, false],
      [4, false],
      [2, true],
      [5, false],
      [6, false],
    ]);
    const fields = (x: { payload: string; msgId?: string; hops?: number; meta?: string }) => [x.payload, x.msgId, x.hops, x.meta];
    const want = [
      ['1', undefined, undefined, undefined],
      ['2', 'a', 3, undefined],
      ['3', undefined, 2, undefined],
      ['4', undefined, undefined, 'm4'],
      ['6', 'b', undefined, 'm6'],
      ['7', undefined, undefined, undefined],
    ];
    expect((await e.read(ch, { after: 0, limit: 10 })).entries.map(fields)).toEqual(want);
    expect((await c.waitFor(6)).map(fields)).toEqual(want);
    expect((await e.read(other, { after: 0, limit: 10 })).entries.map(fields)).toEqual([['9', 'a', undefined, undefined]]);
    await f.close();
  });

  it('rejects an append to a name its keys cannot hold (a brace), and goes on appending', async () => {
    const e = engine(redis.url);
    const ch = uniqueChannel('brace');
    await e.append({ channel: ch, payload: '1' });
    // The second time, the registry knows the name: its batch is made synchronously, in the turn.
    for (let i = 0; i < 2; i++) {
      const [bad, good] = await Promise.allSettled([
        e.append({ channel: `${ch}{x}`, payload: '2' }),
        e.append({ channel: ch, payload: '3' }),
      ]);
      expect(bad.status).toBe('rejected');
      expect(good).toMatchObject({ status: 'fulfilled', value: { offset: 2 + i } });
    }
  });

  it('fails only the entry Redis refused in a batch: the others are stored, delivered and acknowledged', async () => {
    const e = engine(redis.url);
    const ch = uniqueChannel('gc.poison');
    await e.append({ channel: ch, payload: '"warm"' });
    // A dedup key that is not a string (written behind the engine's back): GET on it is WRONGTYPE.
    await raw.hset(dedupKey(keyPrefix, ch, 'poison'), 'x', '1');
    const seen: string[] = [];
    const f = await e.follow(ch, (x) => seen.push(x.payload));
    try {
      const [a, b, c] = await Promise.allSettled([
        e.append({ channel: ch, payload: '"A"' }),
        e.append({ channel: ch, payload: '"B"', msgId: 'poison' }),
        e.append({ channel: ch, payload: '"C"' }),
      ]);
      expect([a.status, b.status, c.status]).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((b as PromiseRejectedResult).reason).toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/WRONGTYPE/) });
      expect((await e.read(ch, { after: 1, limit: 10 })).entries.map((x) => x.payload)).toEqual(['"A"', '"C"']);
      await eventually(() => seen.length >= 2, { message: 'the follower to get A and C' });
      expect(seen).toEqual(['"A"', '"C"']);
    } finally {
      await f.close();
    }
  });

  it("fails only the broken channel's appends when channels share a script call", async () => {
    const e = engine(redis.url);
    const broken = uniqueChannel('gc.broken');
    const fine = uniqueChannel('gc.fine');
    await e.append({ channel: fine, payload: '"warm"' });
    // The broken channel's meta hash is a string (written behind the engine's back): its HMGET
    // fails before any entry of it, in the same call as the fine channel's batch.
    await raw.set(channelKeys(keyPrefix, broken).meta, 'not a hash');
    const [a, b, c] = await Promise.allSettled([
      e.append({ channel: fine, payload: '"A"' }),
      e.append({ channel: broken, payload: '"B"' }),
      e.append({ channel: fine, payload: '"C"' }),
    ]);
    expect([a.status, b.status, c.status]).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((b as PromiseRejectedResult).reason).toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/WRONGTYPE/) });
    expect((await e.read(fine, { after: 1, limit: 10 })).entries.map((x) => x.payload)).toEqual(['"A"', '"C"']);
  });

  it('appends to a channel with consumer groups in one round trip too (the group is made in the script)', async () => {
    const e = engine(redis.url);
    const root = uniqueChannel('rtg');
    const group = `g${Math.random().toString(36).slice(2, 8)}`;
    await e.groups.register(group, [`${root}.*`]);
    await e.append({ channel: `${root}.warm`, payload: '0' }); // loads the script and the registry
    const subscribers = await subscriberAddresses(raw);
    expect(subscribers.size).toBeGreaterThan(0); // registry-change subscriptions, made before a first append
    const monitor = await raw.monitor();
    const seen: Array<{ args: string[]; source: string }> = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ args, source }));
    try {
      const ch = `${root}.c`;
      for (let i = 1; i <= 6; i++) await e.append({ channel: ch, payload: String(i) });
      await raw.echo('end-of-test');
      await eventually(() => seen.some((s) => s.args[1] === 'end-of-test'), { message: 'the marker in MONITOR' });
      const fromClients = seen.filter(
        (s) => s.source !== 'lua' && !subscribers.has(s.source) && s.args[1] !== 'end-of-test' && !isRegistryRefresh(s.args),
      );
      // The first append to a channel per group announces the channel for discovery (SADD, the one
      // extra command, once per channel and group per engine); after that, one EVALSHA each.
      expect(fromClients.map((s) => s.args[0]?.toLowerCase())).toEqual(['sadd', ...Array(6).fill('evalsha')]);
      const created = seen.filter((s) => s.source === 'lua' && s.args[0]?.toLowerCase() === 'xgroup');
      expect(created.map((s) => s.args.slice(1, 4))).toEqual([
        ['CREATE', channelKeys(keyPrefix, ch).stream, expect.stringMatching(`^${group}@`)],
      ]);
      const got = await e.groups.read(group, 'c', 100);
      expect(got.filter((x) => x.channel === ch).map((x) => x.offset)).toEqual(range(1, 6));
    } finally {
      monitor.disconnect();
    }
  });

  it('picks up a registration it was never told about within the refresh period', async () => {
    const e = engine(redis.url);
    const ch = uniqueChannel('refresh');
    const group = `g${Math.random().toString(36).slice(2, 8)}`;
    await e.append({ channel: ch, payload: '0' }); // e has read the registry, without the group
    // Written behind every engine's back: no change notice is published.
    await raw.hset(groupRegistryKey(keyPrefix), group, `gen1 ${JSON.stringify([ch])}`);
    const consumer = engine(redis.url); // loads the registry on first use
    const got: Array<{ offset: number }> = [];
    await eventually(
      async () => {
        await e.append({ channel: ch, payload: '1' });
        got.push(...(await consumer.groups.read(group, 'c', 100)));
        return got.length > 0;
      },
      { message: 'the periodic refresh', timeoutMs: REGISTRY_REFRESH_MS * 3 },
    );
    const next = await e.append({ channel: ch, payload: '2' });
    got.push(...(await consumer.groups.read(group, 'c', 100)));
    expect(got.at(-1)?.offset).toBe(next.offset);
  });

  it('recreates a group whose stream vanished while the meta hash still remembers it', async () => {
    const e = engine(redis.url);
    const ch = uniqueChannel('vanish');
    const group = `g${Math.random().toString(36).slice(2, 8)}`;
    await e.groups.register(group, [ch]);
    await e.append({ channel: ch, payload: '1' });
    expect((await e.groups.read(group, 'c', 10)).map((x) => x.offset)).toEqual([1]);
    // As when the stream ages out before its meta hash (it lives maxAgeMs, the meta 2 × maxAgeMs).
    await raw.del(channelKeys(keyPrefix, ch).stream);
    expect(await e.groups.read(group, 'c', 10)).toEqual([]);
    expect(await e.groups.pending(group)).toBe(0);
    await e.append({ channel: ch, payload: '2' });
    expect((await e.groups.read(group, 'c', 10)).map((x) => [x.offset, x.payload])).toEqual([[2, '2']]);
  });

  it('skips a discovered channel that does not have the group (yet)', async () => {
    const e = engine(redis.url);
    const root = uniqueChannel('ghost');
    const group = `g${Math.random().toString(36).slice(2, 8)}`;
    await e.groups.register(group, [`${root}.*`]);
    await e.append({ channel: `${root}.real`, payload: '1' });
    // Announced by an engine that died before its append (the SADD comes first).
    const generation = (await raw.hget(groupRegistryKey(keyPrefix), group))?.split(' ')[0] ?? '';
    expect(await raw.sadd(groupChannelsKey(keyPrefix, group, generation), `${root}.ghost`)).toBe(1);
    expect((await e.groups.read(group, 'c', 10)).map((x) => x.channel)).toEqual([`${root}.real`]);
    expect(await e.groups.claim(group, 'd', 0, 10)).toHaveLength(1);
    expect(await e.groups.pending(group)).toBe(1);
    await e.append({ channel: `${root}.ghost`, payload: '2' });
    expect((await e.groups.read(group, 'c', 10)).map((x) => x.channel)).toEqual([`${root}.ghost`]);
  });

  it('costs Redis no glob per pattern: patterns share a first-segment feed topic, matched on the node', async () => {
    const e = engine(redis.url);
    const base = uniqueChannel('wild');
    const numpat = async () => Number(await raw.call('PUBSUB', 'NUMPAT'));
    const before = await numpat();
    // Thousands of idle patterns held by other connections made every PUBLISH test every glob.
    const idle = await Promise.all(Array.from({ length: 200 }, (_, i) => e.followPattern(`${base}.d${i}.cmd.*`, () => {})));
    const all = collector();
    const everything = await e.followPattern(`${base}.>`, all.listener);
    const anywhere = collector();
    const tag = base.slice(base.indexOf('.') + 1);
    const leading = await e.followPattern(`*.${tag}.temp`, anywhere.listener);
    expect(await numpat()).toBe(before);
    await e.append({ channel: `${base}.d7.temp`, payload: '1' });
    await e.append({ channel: `${base}.x.temp`, payload: '2' });
    await e.append({ channel: `z.${tag}.temp`, payload: '3' });
    await all.waitFor(2);
    await anywhere.waitFor(1);
    expect(all.entries.map((x) => [x.channel, x.payload])).toEqual([
      [`${base}.d7.temp`, '1'],
      [`${base}.x.temp`, '2'],
    ]);
    await eventually(() => anywhere.entries.length === 1, { message: 'the leading-wildcard pattern' });
    expect(anywhere.entries.map((x) => x.payload)).toEqual(['3']);
    await Promise.all([...idle, everything, leading].map((f) => f.close()));
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
    expect(c.entries.map((x) => [x.offset, x.payload])).toEqual([
      [1, '"one"'],
      [2, '"two"'],
      [3, '"three"'],
    ]);
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
    await eventually(
      async () => {
        try {
          await a.append({ channel: ch, payload: '6', msgId: 'six' });
          return true;
        } catch {
          return false;
        }
      },
      { message: 'engine a to reconnect', timeoutMs: 10_000 },
    );
    await c.waitFor(6, 10_000);
    expect(c.offsets()).toEqual(range(1, 6));
    expect(c.entries.map((x) => x.payload)).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(new Set(c.entries.map((x) => x.epoch)).size).toBe(1);
    await f.close();
  });
});

describe('RedisEngine epochs of unwritten channels', () => {
  let redis: RedisServer;
  let raw: Redis;
  beforeAll(async () => {
    redis = await startRedis({ honourEnv: false }); // no persistence: a restart loses every key
    raw = new Redis(redis.url);
    raw.on('error', () => {}); // the restart below drops it; it reconnects by itself
  });
  afterAll(async () => {
    raw?.disconnect();
    await redis?.stop();
  });

  it('are read without a key, kept by the first append, and new once the server lost its data', async () => {
    const ch = uniqueChannel('unwritten');
    const k = channelKeys(keyPrefix, ch);
    const a = engine(redis.url, { commandTimeoutMs: 1_000, maxReconnectDelayMs: 100 });
    const seen = await a.state(ch);
    expect(await raw.exists(k.meta, k.stream)).toBe(0);
    const first = await a.append({ channel: ch, payload: '1' });
    expect(first).toMatchObject({ offset: 1, epoch: seen.epoch });
    await redis.restart();
    // Within the same time bucket, so only the server's new run_id can tell the lives apart.
    let after = seen;
    await eventually(
      async () => {
        try {
          after = await a.state(ch);
          return true;
        } catch {
          return false;
        }
      },
      { message: 'the engine to reconnect', timeoutMs: 10_000 },
    );
    expect(after).toMatchObject({ first: 1, last: 0 });
    expect(after.epoch).not.toBe(first.epoch);
    expect((await a.append({ channel: ch, payload: '2' })).epoch).toBe(after.epoch);
  });
});
