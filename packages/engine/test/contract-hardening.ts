import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTributaryError } from '@tributary/protocol';
import { eventually } from '@tributary/testkit';
import type { Entry } from '../src/index.js';
import type { EngineFixture, MakeEngine } from './contract-types.js';
import { collector, range, uniqueChannel } from './helpers.js';

type Using = (fn: (get: MakeEngine) => Promise<void>) => Promise<void>;

/** How many fresh names each read-only operation is tried on. */
const FRESH = 40;

/**
 * What a hostile or careless client can do with reads, patterns and listeners: none of it may grow
 * the store, slow down unrelated channels without bound, or crash the process.
 */
export function describeHardeningContract(using: Using): void {
  describe('reads create no state', () => {
    it('read, state, presenceList and closed follows of never-written channels leave nothing behind', () =>
      using(async (get) => {
        const f: EngineFixture = await get();
        const e = f.engine;
        // A written channel first, so the count is known to see records at all.
        await e.append({ channel: uniqueChannel('ro.written'), payload: '1' });
        const before = await f.storedRecords();
        expect(before).toBeGreaterThan(0);
        for (let i = 0; i < FRESH; i++) {
          await e.read(uniqueChannel('ro.read'), { limit: 10 });
          await e.read(uniqueChannel('ro.after'), { after: 0, limit: 10 });
          await e.state(uniqueChannel('ro.state'));
          await e.presenceList(uniqueChannel('ro.presence'));
        }
        for (let i = 0; i < 5; i++) {
          await (await e.follow(uniqueChannel('ro.follow'), () => {})).close();
          await (await e.followPattern(`${uniqueChannel('ro.pattern')}.*`, () => {})).close();
          await (await e.followPresence(uniqueChannel('ro.pfollow'), () => {})).close();
        }
        expect(await f.storedRecords()).toBe(before);
      }));

    it('answers a never-written channel with a stable epoch that its first append keeps', () =>
      using(async (get) => {
        const e = (await get()).engine;
        const ch = uniqueChannel('ro.epoch');
        const s = await e.state(ch);
        expect(s).toMatchObject({ first: 1, last: 0 });
        expect(await e.state(ch)).toEqual(s);
        expect((await e.read(ch, { after: 0, limit: 5 })).epoch).toBe(s.epoch);
        // A subscriber that started here resumes from (s.epoch, 0) without a false gap.
        const c = collector();
        const follow = await e.follow(ch, c.listener);
        const a = await e.append({ channel: ch, payload: '"first"' });
        expect(a).toMatchObject({ offset: 1, epoch: s.epoch });
        await c.waitFor(1);
        expect(c.entries.map((x) => [x.epoch, x.offset])).toEqual([[s.epoch, 1]]);
        await follow.close();
      }));
  });

  describe('pattern limit', () => {
    it('rejects followPattern with LIMIT_EXCEEDED beyond maxPatterns distinct patterns', () =>
      using(async (get) => {
        const e = (await get({ maxPatterns: 3 })).engine;
        const root = uniqueChannel('lim');
        const follows = [];
        for (const p of ['a', 'b', 'c']) follows.push(await e.followPattern(`${root}.${p}.*`, () => {}));
        // The same pattern again is not a new distinct pattern.
        follows.push(await e.followPattern(`${root}.a.*`, () => {}));
        const err = await e
          .followPattern(`${root}.d.*`, () => {})
          .then(
            () => undefined,
            (x: unknown) => x,
          );
        expect(isTributaryError(err, 'LIMIT_EXCEEDED')).toBe(true);
        // Closing one frees its slot, and the survivors still deliver.
        await follows[1]?.close();
        const c = collector();
        follows.push(await e.followPattern(`${root}.d.*`, c.listener));
        await e.append({ channel: `${root}.d.x`, payload: '1' });
        await c.waitFor(1);
        for (const f of follows) await f.close();
      }));
  });

  describe('listener errors', () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    beforeEach(() => {
      uncaught.length = 0;
      process.on('uncaughtException', onUncaught);
      process.on('unhandledRejection', onUncaught);
    });
    afterEach(() => {
      process.off('uncaughtException', onUncaught);
      process.off('unhandledRejection', onUncaught);
    });

    it('a throwing listener neither stops the others nor becomes an uncaught exception', () =>
      using(async (get) => {
        const reported: Array<[unknown, string]> = [];
        const e = (await get({ onListenerError: (err, channel) => void reported.push([err, channel]) })).engine;
        const ch = uniqueChannel('le.sync');
        const root = uniqueChannel('le.pat');
        const boom = (entry: Entry): void => {
          // What a block registry reading `.name` of a missing record does.
          (null as unknown as { name: string }).name.toString();
          void entry;
        };
        const asyncBoom = async (): Promise<void> => {
          throw new Error('async listener failed');
        };
        const good = collector();
        const goodPattern = collector();
        const follows = [
          await e.follow(ch, boom),
          await e.follow(ch, asyncBoom),
          await e.follow(ch, good.listener),
          await e.followPattern(`${root}.*`, boom),
          await e.followPattern(`${root}.*`, goodPattern.listener),
        ];
        await e.append({ channel: ch, payload: '1' });
        await e.append({ channel: ch, payload: '2' });
        await e.append({ channel: `${root}.x`, payload: '3' });
        // waitFor polls on timers, so a rethrow deferred to a microtask has surfaced by then.
        await good.waitFor(2);
        await goodPattern.waitFor(1);
        expect(uncaught).toEqual([]);
        expect(good.offsets()).toEqual(range(1, 2));
        await eventually(() => reported.length === 5, { message: () => `5 reported listener errors (got ${reported.length})` });
        expect(reported.map(([, c]) => c).sort()).toEqual([ch, ch, ch, ch, `${root}.x`].sort());
        expect(reported.every(([err]) => err instanceof Error)).toBe(true);
        expect(uncaught).toEqual([]);
        for (const f of follows) await f.close();
      }));
  });
}
