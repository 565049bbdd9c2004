import { describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import type { ConsumerGroups, EngineOptions, GroupEntry, StreamEngine } from '../src/index.js';
import type { EngineCapabilities, MakeEngine } from './contract-types.js';
import { range, uniqueChannel } from './helpers.js';

type Using = (fn: (get: MakeEngine) => Promise<void>) => Promise<void>;

/** A group name no other test uses (tests may share one store and its registry). */
const uniqueGroup = (base: string): string => `grp.${base}.${Math.random().toString(36).slice(2, 10)}`;

/** Reads until at least `n` entries arrived in total (polling, with a deadline). */
async function readAtLeast(groups: ConsumerGroups, group: string, consumer: string, n: number, count = 100): Promise<GroupEntry[]> {
  const got: GroupEntry[] = [];
  await eventually(
    async () => {
      got.push(...(await groups.read(group, consumer, count)));
      return got.length >= n;
    },
    { message: `${n} entries of group ${group}` },
  );
  return got;
}

/**
 * Consumer groups (`engine.groups`): the semantics after-publish blocks rely on, the same on every
 * engine. Every test registers its own group over its own channels.
 */
export function describeGroupContract(using: Using, caps: EngineCapabilities): void {
  const withEngine = (options: EngineOptions | undefined, fn: (e: StreamEngine) => Promise<void>) => () =>
    using(async (get) => fn((await get(options)).engine));

  describe('consumer groups', () => {
    it(
      'hands an entry appended after register to one consumer, once',
      withEngine(undefined, async (e) => {
        const group = uniqueGroup('once');
        const ch = uniqueChannel('g.once');
        await e.groups.register(group, [ch]);
        expect(await e.groups.read(group, 'c1', 10)).toEqual([]);
        const r = await e.append({ channel: ch, payload: '{"a":1}', msgId: 'm1', hops: 2 });
        const got = await e.groups.read(group, 'c1', 10);
        expect(got).toEqual([
          { channel: ch, offset: r.offset, epoch: r.epoch, time: r.time, payload: '{"a":1}', msgId: 'm1', hops: 2, deliveries: 1 },
        ]);
        expect(await e.groups.read(group, 'c1', 10)).toEqual([]);
        expect(await e.groups.read(group, 'c2', 10)).toEqual([]);
        expect(await e.groups.pending(group)).toBe(1);
        // Registering again with the same patterns changes nothing.
        await e.groups.register(group, [ch]);
        expect(await e.groups.pending(group)).toBe(1);
      }),
    );

    it(
      'says how many entries retention trimmed before the group read them (no silent loss)',
      withEngine({ retention: { maxLength: 5 } }, async (e) => {
        const group = uniqueGroup('gap');
        const ch = uniqueChannel('g.gap');
        await e.groups.register(group, [ch]);
        await e.append({ channel: ch, payload: '0' });
        expect((await e.groups.read(group, 'c1', 10)).map((x) => [x.offset, x.gapBefore])).toEqual([[1, undefined]]);
        for (let i = 2; i <= 20; i++) await e.append({ channel: ch, payload: String(i) });
        const got = await readAtLeast(e.groups, group, 'c1', 5);
        // Offsets 2–15 were trimmed unread: the first entry after them carries the count.
        expect(got.map((x) => x.offset)).toEqual([16, 17, 18, 19, 20]);
        expect(got[0]?.gapBefore).toBe(14);
        expect(got.slice(1).every((x) => x.gapBefore === undefined)).toBe(true);
      }),
    );

    it(
      'never gives the same new entry to two consumers',
      withEngine(undefined, async (e) => {
        const group = uniqueGroup('two');
        const ch = uniqueChannel('g.two');
        await e.groups.register(group, [ch]);
        for (let i = 1; i <= 30; i++) await e.append({ channel: ch, payload: String(i) });
        const byConsumer: Record<'a' | 'b', GroupEntry[]> = { a: [], b: [] };
        await eventually(
          async () => {
            const [a, b] = await Promise.all([e.groups.read(group, 'a', 4), e.groups.read(group, 'b', 4)]);
            byConsumer.a.push(...a);
            byConsumer.b.push(...b);
            return byConsumer.a.length + byConsumer.b.length >= 30;
          },
          { message: '30 entries over two consumers' },
        );
        const all = [...byConsumer.a, ...byConsumer.b].map((x) => x.offset);
        expect(all.sort((x, y) => x - y)).toEqual(range(1, 30));
        expect(byConsumer.a.length).toBeGreaterThan(0);
        expect(byConsumer.b.length).toBeGreaterThan(0);
        expect(await e.groups.read(group, 'a', 100)).toEqual([]);
        expect(await e.groups.pending(group)).toBe(30);
      }),
    );

    it(
      'counts as pending what was handed out and not acked; ack is idempotent',
      withEngine(undefined, async (e) => {
        const group = uniqueGroup('ack');
        const ch = uniqueChannel('g.ack');
        await e.groups.register(group, [ch]);
        for (let i = 1; i <= 3; i++) await e.append({ channel: ch, payload: String(i) });
        expect(await e.groups.pending(group)).toBe(0);
        const got = await e.groups.read(group, 'c', 10);
        expect(got.map((x) => x.offset)).toEqual([1, 2, 3]);
        expect(await e.groups.pending(group)).toBe(3);
        await e.groups.ack(group, ch, [1, 2]);
        expect(await e.groups.pending(group)).toBe(1);
        await e.groups.ack(group, ch, [3, 1]);
        await e.groups.ack(group, ch, []);
        expect(await e.groups.pending(group)).toBe(0);
        // Acking for an unknown group or channel is a no-op.
        await e.groups.ack(uniqueGroup('none'), ch, [1]);
        await e.groups.ack(group, uniqueChannel('g.elsewhere'), [1]);
      }),
    );

    it(
      'reports its lag: pending, unread, and the time of the oldest entry it has not finished',
      withEngine(undefined, async (e) => {
        const group = uniqueGroup('lag');
        const root = uniqueChannel('g.lag');
        expect(await e.groups.lag(group)).toEqual({ pending: 0, unread: 0 });
        await e.groups.register(group, [`${root}.*`]);
        const a = await e.append({ channel: `${root}.a`, payload: '1' });
        await e.append({ channel: `${root}.a`, payload: '2' });
        const b = await e.append({ channel: `${root}.b`, payload: '3' });
        expect(await e.groups.lag(group)).toEqual({ pending: 0, unread: 3, oldestTime: a.time });
        const got = await readAtLeast(e.groups, group, 'c', 3);
        expect(await e.groups.lag(group)).toEqual({ pending: 3, unread: 0, oldestTime: a.time });
        await e.groups.ack(group, `${root}.a`, [1, 2]);
        expect(await e.groups.lag(group)).toEqual({ pending: 1, unread: 0, oldestTime: b.time });
        await e.groups.ack(group, `${root}.b`, [1]);
        const c = await e.append({ channel: `${root}.a`, payload: '4' });
        expect(await e.groups.lag(group)).toEqual({ pending: 0, unread: 1, oldestTime: c.time });
        expect(got.map((x) => x.payload).sort()).toEqual(['1', '2', '3']);
        await readAtLeast(e.groups, group, 'c', 1);
        await e.groups.ack(group, `${root}.a`, [3]);
        expect(await e.groups.lag(group)).toEqual({ pending: 0, unread: 0 });
      }),
    );

    it(
      'lets another consumer claim an entry left unacked past minIdle, counting deliveries',
      withEngine(undefined, async (e) => {
        const group = uniqueGroup('claim');
        const ch = uniqueChannel('g.claim');
        await e.groups.register(group, [ch]);
        await e.append({ channel: ch, payload: '"job"' });
        const [first] = await e.groups.read(group, 'a', 10);
        expect(first).toMatchObject({ offset: 1, deliveries: 1 });
        expect(await e.groups.claim(group, 'b', 60_000, 10)).toEqual([]);
        let claimed: GroupEntry[] = [];
        await eventually(async () => (claimed = await e.groups.claim(group, 'b', 50, 10)).length > 0, {
          message: 'the entry to be claimable',
        });
        expect(claimed).toEqual([{ ...first, deliveries: 2 }]);
        // Claiming resets the idle time: nobody else takes it right away.
        expect(await e.groups.claim(group, 'c', 60_000, 10)).toEqual([]);
        expect(await e.groups.read(group, 'c', 10)).toEqual([]);
        expect(await e.groups.pending(group)).toBe(1);
        await eventually(async () => (claimed = await e.groups.claim(group, 'c', 50, 10)).length > 0, { message: 'a second claim' });
        expect(claimed[0]?.deliveries).toBe(3);
        await e.groups.ack(group, ch, [1]);
        expect(await e.groups.pending(group)).toBe(0);
        expect(await e.groups.claim(group, 'd', 0, 10)).toEqual([]);
      }),
    );

    it(
      "hands a consumer its own unacked entries again at once (a read whose reply it never got), and nobody else's",
      withEngine(undefined, async (e) => {
        const group = uniqueGroup('redeliver');
        const ch = uniqueChannel('g.redeliver');
        await e.groups.register(group, [ch]);
        for (const i of range(1, 3)) await e.append({ channel: ch, payload: `${i}` });
        // Handed to 'a', but the reply was lost: 'a' never saw these two.
        const lost = await e.groups.read(group, 'a', 2);
        const [third] = await e.groups.read(group, 'b', 10);
        // Not counted as another delivery: they may never have been seen.
        expect(await e.groups.redeliver(group, 'a', 10)).toEqual(lost);
        expect(await e.groups.redeliver(group, 'b', 10)).toEqual([third]);
        expect(await e.groups.redeliver(group, 'c', 10)).toEqual([]);
        expect(await e.groups.redeliver(group, 'a', 1)).toHaveLength(1);
        // Still pending until acked; acked, nothing is handed out again.
        expect(await e.groups.pending(group)).toBe(3);
        await e.groups.ack(
          group,
          ch,
          lost.map((x) => x.offset),
        );
        expect(await e.groups.redeliver(group, 'a', 10)).toEqual([]);
        expect(await e.groups.pending(group)).toBe(1);
      }),
    );

    it(
      'redelivers each own entry once per call over several channels, oldest first per channel, however many a channel holds',
      withEngine(undefined, async (e) => {
        const group = uniqueGroup('redeliver-many');
        const root = uniqueChannel('g.rdm');
        await e.groups.register(group, [`${root}.*`]);
        for (const i of range(1, 5)) await e.append({ channel: `${root}.a`, payload: `${i}` });
        await e.append({ channel: `${root}.b`, payload: '0' });
        const lost = await readAtLeast(e.groups, group, 'a', 6);
        await e.groups.ack(group, `${root}.b`, [1]);
        const key = (x: GroupEntry): string => `${x.channel}#${x.offset}`;
        const four = await e.groups.redeliver(group, 'a', 4);
        expect(four.map(key)).toEqual([1, 2, 3, 4].map((o) => `${root}.a#${o}`));
        const all = await e.groups.redeliver(group, 'a', 10);
        expect(all.map(key)).toEqual([1, 2, 3, 4, 5].map((o) => `${root}.a#${o}`));
        expect(all).toEqual(lost.filter((x) => x.channel === `${root}.a`).sort((x, y) => x.offset - y.offset));
      }),
    );

    it(
      'does not hand out entries appended before the group was registered',
      withEngine(undefined, async (e) => {
        const group = uniqueGroup('before');
        const ch = uniqueChannel('g.before');
        await e.append({ channel: ch, payload: '1' });
        await e.append({ channel: ch, payload: '2' });
        await e.groups.register(group, [ch]);
        await e.append({ channel: ch, payload: '3' });
        expect((await e.groups.read(group, 'c', 10)).map((x) => [x.offset, x.payload])).toEqual([[3, '3']]);
      }),
    );

    it(
      'covers every channel matching its patterns, and only those',
      withEngine(undefined, async (e) => {
        const group = uniqueGroup('pat');
        const root = uniqueChannel('g.pat');
        await e.groups.register(group, [`${root}.*`, `${root}x.>`]);
        const matching = [`${root}.a`, `${root}.b`, `${root}x.deep.y`, `${root}x.z`];
        for (const ch of [...matching, `${root}.a.deeper`, `${root}y`, root]) {
          await e.append({ channel: ch, payload: JSON.stringify(ch) });
        }
        const got = await readAtLeast(e.groups, group, 'c', 4);
        expect(got.map((x) => x.channel).sort()).toEqual([...matching].sort());
        expect(got.every((x) => x.payload === JSON.stringify(x.channel) && x.offset === 1)).toBe(true);
        expect(await e.groups.read(group, 'c', 100)).toEqual([]);
      }),
    );

    it(
      'never matches $ channels with a wildcard, unless the pattern starts with $',
      withEngine(undefined, async (e) => {
        const plainGroup = uniqueGroup('all');
        const sysGroup = uniqueGroup('sys');
        const tag = `gsys${Math.random().toString(36).slice(2, 10)}`;
        // `*` matches every one-segment channel of the store: unregistered at the end.
        await e.groups.register(plainGroup, ['*', `${tag}.>`]);
        await e.groups.register(sysGroup, [`$${tag}.*`]);
        try {
          for (const ch of [`$${tag}`, `$${tag}.x`, tag, `${tag}.y`]) await e.append({ channel: ch, payload: '1' });
          const plain = await readAtLeast(e.groups, plainGroup, 'c', 2);
          expect(plain.map((x) => x.channel).sort()).toEqual([tag, `${tag}.y`]);
          const sys = await readAtLeast(e.groups, sysGroup, 'c', 1);
          expect(sys.map((x) => x.channel)).toEqual([`$${tag}.x`]);
        } finally {
          await e.groups.unregister(plainGroup);
          await e.groups.unregister(sysGroup);
        }
      }),
    );

    it(
      'stops handing out after unregister; registering again starts afresh',
      withEngine(undefined, async (e) => {
        const group = uniqueGroup('unreg');
        const ch = uniqueChannel('g.unreg');
        await e.groups.register(group, [ch]);
        await e.append({ channel: ch, payload: '1' });
        expect((await e.groups.read(group, 'c', 10)).map((x) => x.offset)).toEqual([1]);
        await e.groups.unregister(group);
        await e.groups.unregister(group);
        expect(await e.groups.pending(group)).toBe(0);
        await e.append({ channel: ch, payload: '2' });
        expect(await e.groups.read(group, 'c', 10)).toEqual([]);
        expect(await e.groups.claim(group, 'c', 0, 10)).toEqual([]);
        await e.groups.register(group, [ch]);
        expect(await e.groups.read(group, 'c', 10)).toEqual([]);
        await e.append({ channel: ch, payload: '3' });
        expect((await e.groups.read(group, 'c', 10)).map((x) => x.offset)).toEqual([3]);
        expect(await e.groups.pending(group)).toBe(1);
      }),
    );

    it(
      'hands out many entries over several channels in order per channel',
      withEngine(undefined, async (e) => {
        const group = uniqueGroup('many');
        const root = uniqueChannel('g.many');
        const channels = [`${root}.a`, `${root}.b`, `${root}.c`];
        await e.groups.register(group, [`${root}.*`]);
        for (let i = 1; i <= 40; i++) for (const ch of channels) await e.append({ channel: ch, payload: String(i) });
        const got: GroupEntry[] = [];
        let turn = 0;
        await eventually(
          async () => {
            const batch = await e.groups.read(group, `c${turn++ % 2}`, 7);
            expect(batch.length).toBeLessThanOrEqual(7);
            got.push(...batch);
            return got.length >= 120;
          },
          { message: '120 entries' },
        );
        for (const ch of channels) {
          const mine = got.filter((x) => x.channel === ch);
          expect(mine.map((x) => x.offset)).toEqual(range(1, 40));
          expect(mine.map((x) => x.payload)).toEqual(range(1, 40).map(String));
        }
        expect(await e.groups.read(group, 'c0', 100)).toEqual([]);
      }),
    );

    it(
      'copes with pending entries trimmed away by retention',
      withEngine({ retention: { maxLength: 3 } }, async (e) => {
        const group = uniqueGroup('trim');
        const ch = uniqueChannel('g.trim');
        await e.groups.register(group, [ch]);
        await e.append({ channel: ch, payload: '1' });
        expect((await e.groups.read(group, 'a', 10)).map((x) => x.offset)).toEqual([1]);
        for (let i = 2; i <= 8; i++) await e.append({ channel: ch, payload: String(i) });
        // The embedded engine still holds the entry and hands it out again; Redis drops it.
        const claimed = await e.groups.claim(group, 'b', 0, 10);
        expect(claimed.every((x) => x.offset === 1 && x.payload === '1')).toBe(true);
        // Entries trimmed before anyone read them are skipped.
        expect((await e.groups.read(group, 'b', 10)).map((x) => x.offset)).toEqual([6, 7, 8]);
        await e.groups.ack(group, ch, [1, 6, 7, 8]);
        expect(await e.groups.pending(group)).toBe(0);
      }),
    );

    it(
      'keeps handing out after the channel was reset (a new epoch)',
      withEngine(undefined, async (e) => {
        const group = uniqueGroup('reset');
        const ch = uniqueChannel('g.reset');
        await e.groups.register(group, [ch]);
        const a = await e.append({ channel: ch, payload: '"old"' });
        await e.groups.read(group, 'c', 10);
        const s = await e.reset(ch);
        expect(s.epoch).not.toBe(a.epoch);
        await e.append({ channel: ch, payload: '"new"' });
        const got = await readAtLeast(e.groups, group, 'c', 1);
        expect(got.map((x) => [x.offset, x.epoch, x.payload])).toEqual([[1, s.epoch, '"new"']]);
        await e.groups.ack(group, ch, [1]);
        await e.append({ channel: ch, payload: '"next"' });
        expect((await readAtLeast(e.groups, group, 'c', 1)).map((x) => x.offset)).toEqual([2]);
      }),
    );

    if (caps.shared) {
      it('hands out what another engine appends once the registration reached it', () =>
        using(async (get) => {
          const a = (await get()).engine;
          const b = (await get()).engine;
          const group = uniqueGroup('shared');
          const ch = uniqueChannel('g.shared');
          await b.append({ channel: ch, payload: '0' }); // b has read the (empty) registry
          await a.groups.register(group, [ch]);
          const got: GroupEntry[] = [];
          let i = 0;
          // b learns of the group by the change notice (or the periodic refresh).
          await eventually(
            async () => {
              await b.append({ channel: ch, payload: String(++i) });
              got.push(...(await a.groups.read(group, 'a', 100)));
              return got.length > 0;
            },
            { message: "b's appends to reach the group", timeoutMs: 15_000 },
          );
          const from = got[0]?.offset ?? 0;
          for (let j = 0; j < 5; j++) await b.append({ channel: ch, payload: String(++i) });
          // Either engine's consumers see the group.
          got.push(...(await b.groups.read(group, 'b', 3)));
          got.push(...(await readAtLeast(a.groups, group, 'a', (await b.state(ch)).last - from + 1 - got.length)));
          expect(got.map((x) => x.offset).sort((x, y) => x - y)).toEqual(range(from, from + got.length - 1));
          expect(got.at(-1)?.offset).toBe((await b.state(ch)).last);
        }));
    }
  });
}
