import { describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import type { PresenceChange, PresenceRecord, StreamEngine } from '../src/index.js';
import type { EngineCapabilities, MakeEngine } from './contract-types.js';
import { collector, range, uniqueChannel } from './helpers.js';

type Using = (fn: (get: MakeEngine) => Promise<void>) => Promise<void>;

/** Follows, presence and kv: the parts of the contract that involve listeners and expiry. */
export function describeLiveContract(using: Using, caps: EngineCapabilities): void {
  const withEngine = (fn: (e: StreamEngine) => Promise<void>) => () => using(async (get) => fn((await get()).engine));

  describe('follow', () => {
    it(
      'delivers what is appended after it resolves, in order, once each, until closed',
      withEngine(async (e) => {
        const ch = uniqueChannel('f.order');
        for (let i = 0; i < 3; i++) await e.append({ channel: ch, payload: '"before"' });
        const c = collector();
        const f = await e.follow(ch, c.listener);
        await Promise.all(range(1, 30).map((i) => e.append({ channel: ch, payload: String(i), msgId: `m${i}` })));
        await c.waitFor(30);
        expect(c.offsets()).toEqual(range(4, 33));
        expect(new Set(c.entries.map((x) => x.payload)).size).toBe(30);
        expect(c.entries.every((x) => x.channel === ch && !x.payload.includes('before'))).toBe(true);
        const r = await e.read(ch, { after: 3, limit: 100 });
        expect(c.entries).toEqual(r.entries);
        await f.close();
        await f.close();
        // A second follower proves the next entry went out; the closed one must not have seen it.
        const witness = collector();
        const w = await e.follow(ch, witness.listener);
        await e.append({ channel: ch, payload: '"after"' });
        await witness.waitFor(1);
        expect(c.entries).toHaveLength(30);
        await w.close();
      }),
    );

    it(
      'gives every follower of a channel everything; closing one leaves the other',
      withEngine(async (e) => {
        const ch = uniqueChannel('f.two');
        const a = collector();
        const b = collector();
        const fa = await e.follow(ch, a.listener);
        const fb = await e.follow(ch, b.listener);
        for (let i = 1; i <= 5; i++) await e.append({ channel: ch, payload: String(i) });
        await a.waitFor(5);
        await b.waitFor(5);
        expect(a.offsets()).toEqual(range(1, 5));
        expect(b.offsets()).toEqual(range(1, 5));
        await fa.close();
        await e.append({ channel: ch, payload: '6' });
        await b.waitFor(6);
        expect(b.offsets()).toEqual(range(1, 6));
        expect(a.offsets()).toEqual(range(1, 5));
        await fb.close();
      }),
    );

    it(
      'delivers a reset as entries of the new epoch from offset 1',
      withEngine(async (e) => {
        const ch = uniqueChannel('f.reset');
        const c = collector();
        const f = await e.follow(ch, c.listener);
        const a = await e.append({ channel: ch, payload: '1' });
        await e.append({ channel: ch, payload: '2' });
        await c.waitFor(2);
        const s = await e.reset(ch);
        await e.append({ channel: ch, payload: '3' });
        await c.waitFor(3);
        expect(c.entries.map((x) => [x.epoch, x.offset])).toEqual([
          [a.epoch, 1],
          [a.epoch, 2],
          [s.epoch, 1],
        ]);
        await f.close();
      }),
    );

    it(
      'followPattern: * matches one segment, > one or more trailing',
      withEngine(async (e) => {
        const root = uniqueChannel('fp');
        const star = collector();
        const tail = collector();
        const fs = await e.followPattern(`${root}.*`, star.listener);
        const ft = await e.followPattern(`${root}.>`, tail.listener);
        await e.append({ channel: `${root}.a`, payload: '"a1"' });
        await e.append({ channel: `${root}.a.deep`, payload: '"deep"' });
        await e.append({ channel: root, payload: '"root"' });
        await e.append({ channel: `other.${root}.a`, payload: '"other"' });
        await e.append({ channel: `${root}.b`, payload: '"b1"' });
        await e.append({ channel: `${root}.a`, payload: '"a2"' });
        await tail.waitFor(4);
        await star.waitFor(3);
        const payloads = (c: typeof star, ch: string) => c.entries.filter((x) => x.channel === ch).map((x) => x.payload);
        expect(payloads(star, `${root}.a`)).toEqual(['"a1"', '"a2"']);
        expect(payloads(star, `${root}.b`)).toEqual(['"b1"']);
        expect(payloads(tail, `${root}.a.deep`)).toEqual(['"deep"']);
        // The `>` follower has seen the deep entry, so the `*` follower has been offered it too.
        expect(star.entries.map((x) => x.channel).sort()).toEqual([`${root}.a`, `${root}.a`, `${root}.b`]);
        expect(tail.entries).toHaveLength(4);
        expect(tail.entries.filter((x) => x.channel === `${root}.a`).map((x) => x.offset)).toEqual([1, 2]);
        await fs.close();
        await ft.close();
      }),
    );

    if (caps.shared) {
      it('delivers appends made through another engine instance on the same store', () =>
        using(async (get) => {
          const one = (await get()).engine;
          const two = (await get()).engine;
          const root = uniqueChannel('f.shared');
          const ch = `${root}.x`;
          const c = collector();
          const p = collector();
          const f = await one.follow(ch, c.listener);
          const fp = await one.followPattern(`${root}.*`, p.listener);
          for (let i = 1; i <= 10; i++) await two.append({ channel: ch, payload: String(i) });
          await c.waitFor(10);
          await p.waitFor(10);
          expect(c.offsets()).toEqual(range(1, 10));
          expect(p.entries.map((x) => x.payload)).toEqual(range(1, 10).map(String));
          expect((await one.read(ch, { limit: 1 })).last).toBe(10);
          await f.close();
          await fp.close();
        }));

      it('delivers presence changes notified by another instance', () =>
        using(async (get) => {
          const one = (await get()).engine;
          const two = (await get()).engine;
          const ch = uniqueChannel('p.shared');
          const got: PresenceChange[] = [];
          const f = await one.followPresence(ch, (c) => got.push(c));
          const member: PresenceRecord = { clientId: 'c1', node: 'n2', since: 1 };
          expect(await two.presenceAdd(ch, member, 10_000)).toBe(true);
          await two.presenceNotify({ kind: 'join', channel: ch, member });
          await eventually(() => got.length === 1, { message: 'the join' });
          expect(await one.presenceList(ch)).toEqual([member]);
          await f.close();
        }));
    }
  });

  describe('presence', () => {
    const member = (clientId: string, user?: string): PresenceRecord => ({
      clientId,
      node: 'node-1',
      since: 1_700_000_000_000,
      ...(user === undefined ? {} : { user }),
    });

    it(
      'adds, refreshes, lists and removes members',
      withEngine(async (e) => {
        const ch = uniqueChannel('p.basic');
        expect(await e.presenceAdd(ch, member('a', 'ann'), 10_000)).toBe(true);
        expect(await e.presenceAdd(ch, member('a', 'ann'), 10_000)).toBe(false);
        expect(await e.presenceAdd(ch, member('b'), 10_000)).toBe(true);
        const list = await e.presenceList(ch);
        expect(list.sort((x, y) => x.clientId.localeCompare(y.clientId))).toEqual([member('a', 'ann'), member('b')]);
        expect(await e.presenceRemove(ch, 'a')).toBe(true);
        expect(await e.presenceRemove(ch, 'a')).toBe(false);
        expect(await e.presenceList(ch)).toEqual([member('b')]);
        expect(await e.presenceList(uniqueChannel('p.none'))).toEqual([]);
      }),
    );

    it(
      'expires members after their ttl; a later add is a join again',
      withEngine(async (e) => {
        const ch = uniqueChannel('p.ttl');
        await e.presenceAdd(ch, member('short'), 150);
        await e.presenceAdd(ch, member('long'), 60_000);
        await eventually(async () => (await e.presenceList(ch)).length === 1, { message: 'the short member to expire' });
        expect(await e.presenceList(ch)).toEqual([member('long')]);
        expect(await e.presenceRemove(ch, 'short')).toBe(false);
        expect(await e.presenceAdd(ch, member('short'), 150)).toBe(true);
      }),
    );

    it(
      'notifies presence followers of the channel only',
      withEngine(async (e) => {
        const ch = uniqueChannel('p.notify');
        const got: PresenceChange[] = [];
        const other: PresenceChange[] = [];
        const f = await e.followPresence(ch, (c) => got.push(c));
        const g = await e.followPresence(uniqueChannel('p.other'), (c) => other.push(c));
        // A member coming and going: on a Cluster the changes must not arrive reversed (a member who
        // left would look present), whichever nodes the engine's commands happen to reach.
        const sent: PresenceChange[] = [];
        for (let i = 0; i < 10; i++) {
          for (const kind of ['join', 'leave'] as const) {
            const change: PresenceChange = { kind, channel: ch, member: member('a', 'ann') };
            sent.push(change);
            await e.presenceNotify(change);
          }
        }
        await eventually(() => got.length === sent.length, { message: 'every change' });
        expect(got).toEqual(sent);
        expect(other).toEqual([]);
        await f.close();
        await g.close();
      }),
    );
  });

  describe('kv', () => {
    it(
      'gets, sets, deletes and claims',
      withEngine(async (e) => {
        const ns = uniqueChannel('ns');
        expect(await e.kv.get(ns, 'k')).toBeUndefined();
        await e.kv.set(ns, 'k', 'v1');
        await e.kv.set(ns, 'k', 'v2');
        expect(await e.kv.get(ns, 'k')).toBe('v2');
        expect(await e.kv.get(`${ns}x`, 'k')).toBeUndefined();
        expect(await e.kv.del(ns, 'k')).toBe(true);
        expect(await e.kv.del(ns, 'k')).toBe(false);
        expect(await e.kv.claim(ns, 'lease', 'me', 10_000)).toBe(true);
        expect(await e.kv.claim(ns, 'lease', 'you', 10_000)).toBe(false);
        expect(await e.kv.get(ns, 'lease')).toBe('me');
      }),
    );

    it(
      'counts with incr, from 0, and rejects a non-integer value',
      withEngine(async (e) => {
        const ns = uniqueChannel('ns');
        expect(await e.kv.incr(ns, 'n', 2)).toBe(2);
        expect(await e.kv.incr(ns, 'n', 3)).toBe(5);
        expect(await e.kv.incr(ns, 'n', -6)).toBe(-1);
        await e.kv.set(ns, 's', 'text');
        await expect(e.kv.incr(ns, 's', 1)).rejects.toThrow(TypeError);
      }),
    );

    it(
      'expires keys and counters after their ttl',
      withEngine(async (e) => {
        const ns = uniqueChannel('ns');
        await e.kv.set(ns, 'tmp', 'x', 100);
        expect(await e.kv.incr(ns, 'c', 1, 100)).toBe(1);
        await e.kv.set(ns, 'keep', 'y');
        await eventually(async () => (await e.kv.get(ns, 'tmp')) === undefined, { message: 'the key to expire' });
        await eventually(async () => (await e.kv.get(ns, 'c')) === undefined, { message: 'the counter to expire' });
        expect(await e.kv.incr(ns, 'c', 1)).toBe(1);
        expect(await e.kv.get(ns, 'keep')).toBe('y');
        expect(await e.kv.claim(ns, 'lease', 'a', 100)).toBe(true);
        await eventually(async () => e.kv.claim(ns, 'lease', 'b', 10_000), { message: 'the lease to lapse' });
        expect(await e.kv.get(ns, 'lease')).toBe('b');
      }),
    );
  });
}
