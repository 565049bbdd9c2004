import { afterEach, describe, expect, it, vi } from 'vitest';
import { eventually } from '@tributary/testkit';
import { MemoryEngine, SegmentIndex } from '../src/index.js';
import { uniqueChannel } from './helpers.js';

const engines: MemoryEngine[] = [];
function engine(options?: ConstructorParameters<typeof MemoryEngine>[0]): MemoryEngine {
  const e = new MemoryEngine(options);
  engines.push(e);
  return e;
}
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

describe('MemoryEngine epochs of unwritten channels', () => {
  it('differ between processes, whose logs a restart lost', async () => {
    const ch = uniqueChannel('m.restart');
    const before = await engine().append({ channel: ch, payload: '1' });
    expect((await engine().state(ch)).epoch).not.toBe(before.epoch);
  });

  it('differ from the epoch of a history that expired while idle', async () => {
    const e = engine({ retention: { maxAgeMs: 100 } });
    const ch = uniqueChannel('m.expire');
    const old = await e.append({ channel: ch, payload: '1' });
    await eventually(async () => (await e.read(ch, { limit: 1 })).epoch !== old.epoch, { message: 'the idle history to expire' });
    const next = await e.append({ channel: ch, payload: '2' });
    expect(next).toMatchObject({ offset: 1 });
    expect(next.epoch).not.toBe(old.epoch);
    expect(e.channelCount).toBe(1);
  });
});

describe('MemoryEngine pattern follows', () => {
  it('match an append through the index: the work does not grow with non-matching patterns', async () => {
    const work: number[] = [];
    const match = SegmentIndex.prototype.match;
    vi.spyOn(SegmentIndex.prototype, 'match').mockImplementation(function (this: SegmentIndex<unknown>, channel, visit) {
      const visited = match.call(this, channel, visit);
      work.push(visited);
      return visited;
    });
    const e = engine();
    const root = uniqueChannel('m.pat');
    const got: string[] = [];
    await e.followPattern(`${root}.*`, (x) => void got.push(x.channel));
    await e.append({ channel: `${root}.a`, payload: '1' });
    for (let i = 0; i < 2_000; i++) await e.followPattern(`${root}.x${i}.*`, () => {});
    await e.followPattern(`*.nothing`, () => {});
    await e.append({ channel: `${root}.a`, payload: '2' });
    expect(got).toEqual([`${root}.a`, `${root}.a`]);
    expect(work).toHaveLength(2);
    expect(work[1]).toBe((work[0] as number) + 1); // the root's `*` branch, one node, for `*.nothing`
  });
});

describe('MemoryEngine listener errors', () => {
  it('logs with console.error by default, and survives a throwing onListenerError', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const ch = uniqueChannel('m.log');
    const plain = engine();
    const bad = () => {
      throw new Error('listener bug');
    };
    await plain.follow(ch, bad);
    await plain.append({ channel: ch, payload: '1' });
    expect(logged).toHaveBeenCalledWith(expect.stringContaining(ch), expect.objectContaining({ message: 'listener bug' }));
    const worse = engine({
      onListenerError: () => {
        throw new Error('handler bug');
      },
    });
    await worse.follow(ch, bad);
    await worse.append({ channel: ch, payload: '1' });
    expect(logged).toHaveBeenCalledTimes(2);
  });

  it('rejects invalid options naming the field', () => {
    expect(() => new MemoryEngine({ maxPatterns: 0 })).toThrow(/maxPatterns/);
    expect(() => new MemoryEngine({ onListenerError: 1 as never })).toThrow(/onListenerError/);
  });
});
