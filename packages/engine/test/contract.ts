import { describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import type { EngineOptions, StreamEngine } from '../src/index.js';
import type { EngineCapabilities, EngineFixture, MakeEngine } from './contract-types.js';
import { describeGroupContract } from './contract-groups.js';
import { describeHardeningContract } from './contract-hardening.js';
import { describeLiveContract } from './contract-live.js';
import { range, uniqueChannel } from './helpers.js';

export type { EngineCapabilities, EngineFixture, MakeEngine } from './contract-types.js';

/**
 * The StreamEngine contract: the same tests against every engine. Each test uses fresh channel
 * names, so backends may share one store across tests; each engine made is cleaned up.
 */
export function describeEngineContract(name: string, make: MakeEngine, caps: EngineCapabilities = { shared: false }): void {
  describe(`StreamEngine contract: ${name}`, () => {
    /** Runs `fn` with engines made on demand, cleaning all of them up afterwards. */
    const using = async (fn: (get: MakeEngine) => Promise<void>): Promise<void> => {
      const made: EngineFixture[] = [];
      try {
        await fn(async (options) => {
          const f = await make(options);
          made.push(f);
          await f.engine.ready();
          return f;
        });
      } finally {
        await Promise.all(made.map((f) => f.cleanup()));
      }
    };
    const withEngine = (options: EngineOptions | undefined, fn: (e: StreamEngine) => Promise<void>) => () =>
      using(async (get) => fn((await get(options)).engine));

    describe('log', () => {
      it(
        'numbers appends 1, 2, 3 per channel in one epoch',
        withEngine(undefined, async (e) => {
          const ch = uniqueChannel('log.seq');
          const results = [];
          for (let i = 0; i < 3; i++) results.push(await e.append({ channel: ch, payload: `{"i":${i}}` }));
          expect(results.map((r) => r.offset)).toEqual([1, 2, 3]);
          expect(new Set(results.map((r) => r.epoch)).size).toBe(1);
          expect(results.every((r) => r.duplicate === false && r.time > 0)).toBe(true);
          expect(await e.state(ch)).toEqual({ epoch: results[0]?.epoch, first: 1, last: 3 });
        }),
      );

      it(
        'stores appends issued without waiting in the order they were issued, each with its own result',
        withEngine(undefined, async (e) => {
          const a = uniqueChannel('log.pipe.a');
          const b = uniqueChannel('log.pipe.b');
          // 150 on one channel: more than one Redis batch (64), so batches must chain in order too.
          const pending = range(0, 149).map((i) => e.append({ channel: i % 3 === 0 ? b : a, payload: `{"i":${i}}` }));
          const results = await Promise.all(pending);
          const onA = results.filter((_, i) => i % 3 !== 0).map((r) => r.offset);
          const onB = results.filter((_, i) => i % 3 === 0).map((r) => r.offset);
          expect(onA).toEqual(range(1, 100));
          expect(onB).toEqual(range(1, 50));
          const stored = (await e.read(a, { after: 0, limit: 1000 })).entries.map((x) => JSON.parse(x.payload).i);
          expect(stored).toEqual(range(0, 149).filter((i) => i % 3 !== 0));
        }),
      );

      it(
        'treats a msgId repeated among appends in flight together as a duplicate of the first',
        withEngine(undefined, async (e) => {
          const ch = uniqueChannel('log.pipe.dedup');
          const [x, y, z] = await Promise.all([
            e.append({ channel: ch, payload: '"x"', msgId: 'same' }),
            e.append({ channel: ch, payload: '"y"' }),
            e.append({ channel: ch, payload: '"x again"', msgId: 'same' }),
          ]);
          expect(x).toMatchObject({ offset: 1, duplicate: false });
          expect(y).toMatchObject({ offset: 2, duplicate: false });
          expect(z).toEqual({ ...x, duplicate: true });
          expect((await e.read(ch, { after: 0, limit: 10 })).entries.map((r) => r.payload)).toEqual(['"x"', '"y"']);
        }),
      );

      it(
        'keeps channels independent',
        withEngine(undefined, async (e) => {
          const a = uniqueChannel('log.a');
          const b = uniqueChannel('log.b');
          await e.append({ channel: a, payload: '1' });
          await e.append({ channel: a, payload: '2' });
          const rb = await e.append({ channel: b, payload: '"b"' });
          expect(rb.offset).toBe(1);
          expect((await e.read(b, { limit: 10 })).entries.map((x) => x.payload)).toEqual(['"b"']);
          expect((await e.state(a)).last).toBe(2);
        }),
      );

      it(
        'reads after an offset, with a limit, or the latest N',
        withEngine(undefined, async (e) => {
          const ch = uniqueChannel('log.read');
          for (let i = 1; i <= 10; i++) await e.append({ channel: ch, payload: String(i) });
          const after = await e.read(ch, { after: 3, limit: 4 });
          expect(after.entries.map((x) => x.offset)).toEqual([4, 5, 6, 7]);
          expect(after.entries.map((x) => x.payload)).toEqual(['4', '5', '6', '7']);
          expect(after).toMatchObject({ first: 1, last: 10 });
          expect((await e.read(ch, { limit: 3 })).entries.map((x) => x.offset)).toEqual([8, 9, 10]);
          expect((await e.read(ch, { after: 0, limit: 100 })).entries.map((x) => x.offset)).toEqual(range(1, 10));
          expect((await e.read(ch, { after: 10, limit: 5 })).entries).toEqual([]);
          const x = (await e.read(ch, { after: 4, limit: 1 })).entries[0];
          expect(x).toMatchObject({ channel: ch, offset: 5, payload: '5' });
          expect(typeof x?.epoch).toBe('string');
        }),
      );

      it(
        'reports an untouched channel as empty: first 1, last 0, and a stable epoch',
        withEngine(undefined, async (e) => {
          const ch = uniqueChannel('log.empty');
          const r = await e.read(ch, { limit: 10 });
          expect(r).toMatchObject({ first: 1, last: 0, entries: [] });
          expect((await e.state(ch)).epoch).toBe(r.epoch);
          expect((await e.append({ channel: ch, payload: '1' })).epoch).toBe(r.epoch);
        }),
      );

      it(
        'trims by count (maxLength): first moves, last stays',
        withEngine({ retention: { maxLength: 5 } }, async (e) => {
          const ch = uniqueChannel('log.maxlen');
          for (let i = 1; i <= 8; i++) await e.append({ channel: ch, payload: String(i) });
          expect(await e.state(ch)).toMatchObject({ first: 4, last: 8 });
          const r = await e.read(ch, { after: 0, limit: 100 });
          expect(r.entries.map((x) => x.offset)).toEqual([4, 5, 6, 7, 8]);
        }),
      );

      it(
        'trims by age (maxAgeMs): old entries go, young ones stay',
        withEngine({ retention: { maxAgeMs: 1000 } }, async (e) => {
          const ch = uniqueChannel('log.maxage');
          const old = [];
          for (let i = 0; i < 3; i++) old.push(await e.append({ channel: ch, payload: `"old${i}"` }));
          const t0 = old[0]?.time ?? 0;
          await eventually(() => Date.now() >= t0 + 500, { message: 'half the max age' });
          const mid = await e.append({ channel: ch, payload: '"mid"' });
          await eventually(() => Date.now() >= t0 + 1100, { message: 'the old entries to age out' });
          const last = await e.append({ channel: ch, payload: '"new"' });
          const r = await e.read(ch, { after: 0, limit: 100 });
          // Assertions follow from the stored times, so a slow machine cannot make this flaky.
          const keepMid = mid.time >= last.time - 1000;
          expect(r.entries.map((x) => x.payload)).toEqual(keepMid ? ['"mid"', '"new"'] : ['"new"']);
          expect(r.first).toBe(r.entries[0]?.offset);
          expect(r.last).toBe(last.offset);
        }),
      );

      it(
        'lets a whole idle history age out; first = last + 1 afterwards',
        withEngine({ retention: { maxAgeMs: 200 } }, async (e) => {
          const ch = uniqueChannel('log.idle');
          await e.append({ channel: ch, payload: '1' });
          await e.append({ channel: ch, payload: '2' });
          let r = await e.read(ch, { after: 0, limit: 10 });
          await eventually(async () => (r = await e.read(ch, { after: 0, limit: 10 })).entries.length === 0, {
            message: 'history to expire',
          });
          expect(r.first).toBe(r.last + 1);
          // Either the epoch survives (same epoch, next offset) or it expired too (new epoch, offset 1).
          const next = await e.append({ channel: ch, payload: '3' });
          expect(next.offset).toBe(next.epoch === r.epoch ? r.last + 1 : 1);
        }),
      );

      it(
        'stores a msgId once and answers a repeat with the first result',
        withEngine(undefined, async (e) => {
          const ch = uniqueChannel('log.dedup');
          const first = await e.append({ channel: ch, payload: '"a"', msgId: 'm-1' });
          await e.append({ channel: ch, payload: '"b"' });
          const again = await e.append({ channel: ch, payload: '"a2"', msgId: 'm-1' });
          expect(again).toEqual({ ...first, duplicate: true });
          const other = await e.append({ channel: ch, payload: '"c"', msgId: 'm-2' });
          expect(other).toMatchObject({ offset: 3, duplicate: false });
          const r = await e.read(ch, { after: 0, limit: 10 });
          expect(r.entries.map((x) => [x.payload, x.msgId])).toEqual([
            ['"a"', 'm-1'],
            ['"b"', undefined],
            ['"c"', 'm-2'],
          ]);
        }),
      );

      it(
        'keeps msgId and hops on entries',
        withEngine(undefined, async (e) => {
          const ch = uniqueChannel('log.meta');
          await e.append({ channel: ch, payload: '1', msgId: 'x', hops: 2 });
          await e.append({ channel: ch, payload: '2', hops: 0 });
          const [a, b] = (await e.read(ch, { limit: 10 })).entries;
          expect(a).toMatchObject({ msgId: 'x', hops: 2 });
          expect(b?.hops).toBeUndefined();
          expect(b?.msgId).toBeUndefined();
        }),
      );

      it(
        'keeps envelope meta on entries: reads, follows and group reads; entries without it have none',
        withEngine(undefined, async (e) => {
          const ch = uniqueChannel('log.envelope');
          const group = `envelope-${Math.random().toString(36).slice(2)}`;
          await e.groups.register(group, [ch]);
          const seen: Array<string | undefined> = [];
          const f = await e.follow(ch, (x) => seen.push(x.meta));
          // Quotes, newlines and non-ASCII: the notification header carries it as a JSON string.
          const meta = '{"p":["sensors.d1",7,"Xy"],"b":"avg","t":"x\\n\\"é"}';
          await e.append({ channel: ch, payload: '1', hops: 1, meta });
          await e.append({ channel: ch, payload: '2', meta: '' });
          const [a, b] = (await e.read(ch, { limit: 10 })).entries;
          expect(a?.meta).toBe(meta);
          expect(b?.meta).toBeUndefined();
          expect((await e.groups.read(group, 'c1', 10)).map((x) => x.meta)).toEqual([meta, undefined]);
          await eventually(() => expect(seen).toEqual([meta, undefined]));
          await f.close();
          await e.groups.unregister(group);
        }),
      );

      it(
        'reset starts a new epoch with offsets from 1 and forgets msgIds',
        withEngine(undefined, async (e) => {
          const ch = uniqueChannel('log.reset');
          const a = await e.append({ channel: ch, payload: '1', msgId: 'once' });
          await e.append({ channel: ch, payload: '2' });
          const s = await e.reset(ch);
          expect(s.epoch).not.toBe(a.epoch);
          expect(s).toMatchObject({ first: 1, last: 0 });
          expect(await e.state(ch)).toEqual(s);
          const b = await e.append({ channel: ch, payload: '3', msgId: 'once' });
          expect(b).toMatchObject({ offset: 1, epoch: s.epoch, duplicate: false });
          expect((await e.read(ch, { after: 0, limit: 10 })).entries.map((x) => x.payload)).toEqual(['3']);
        }),
      );

      it(
        'round-trips payload text exactly (unicode, escapes, 64 KiB)',
        withEngine(undefined, async (e) => {
          const ch = uniqueChannel('log.bytes');
          const payloads = [
            JSON.stringify({ s: 'héllo wörld — 日本語 🌊🚀 \u2028\u2029 e\u0301', q: '"\\/\n\t', n: -0.5e-7 }),
            '  {"spaced" :\n 1 }\r\n',
            JSON.stringify({ big: 'ü€🌊x'.repeat((64 * 1024) / 10) }),
          ];
          for (const payload of payloads) await e.append({ channel: ch, payload });
          const r = await e.read(ch, { after: 0, limit: 10 });
          expect(r.entries.map((x) => x.payload)).toEqual(payloads);
        }),
      );
    });

    describeLiveContract(using, caps);
    describeGroupContract(using, caps);
    describeHardeningContract(using);
  });
}
