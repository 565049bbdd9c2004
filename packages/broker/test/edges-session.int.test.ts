// Edge cases found by a hostile review: await points in a session, and the publish fence.
import { MemoryEngine, type StreamEngine } from '@tributary/engine';
import { ErrorCodes, TributaryError } from '@tributary/protocol';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually } from '@tributary/testkit';
import type { PublishInterceptor } from '../src/index.js';
import { broker, sleep, socket, wrapEngine } from './helpers.js';
import { brokerContext } from '../src/internal.js';

describe('a connection closing at an await point of subscribe', () => {
  it('leaves no presence member behind when it closes while subscribe {presence:true} reads the channel state', async () => {
    const inner = new MemoryEngine();
    // 50 ms per state read: a Redis round trip on a loaded network.
    const engine = wrapEngine(inner, {
      state: ((c: string) => sleep(50).then(() => inner.state(c))) as never,
    });
    const b = await broker({ engine, presenceTtlMs: 300 });
    const ws = new WebSocket(b.wsUrl);
    await new Promise<void>((r) => ws.once('message', () => r()));
    ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel: 'room', presence: true }));
    await sleep(10);
    ws.terminate();
    await eventually(() => brokerContext(b).sessions.size === 0, { message: 'session not removed', timeoutMs: 10_000 });
    // Three presence TTLs later the member should long be gone.
    await sleep(1000);
    const members = await engine.presenceList('room');
    expect(members, 'a closed connection is still present (refreshed for ever by PresenceManager)').toEqual([]);
  });

  it('leaves no presence member behind when it closes while subscribe {presence:true, since} replays', async () => {
    const inner = new MemoryEngine();
    const engine = wrapEngine(inner, {
      read: ((c: string, o: never) => sleep(50).then(() => inner.read(c, o))) as never,
    });
    const b = await broker({ engine, presenceTtlMs: 300 });
    await inner.append({ channel: 'room', payload: '1' });
    const { epoch } = await inner.state('room');
    const ws = new WebSocket(b.wsUrl);
    await new Promise<void>((r) => ws.once('message', () => r()));
    ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel: 'room', presence: true, since: { offset: 0, epoch } }));
    await sleep(10);
    ws.terminate();
    await eventually(() => brokerContext(b).sessions.size === 0, { message: 'session not removed', timeoutMs: 10_000 });
    await sleep(1000);
    const members = await engine.presenceList('room');
    expect(members).toEqual([]);
  });
});

describe('the publish fence after UNAVAILABLE', () => {
  it('a publish received before the error, but inside a before-publish block when it came, is not stored before the retry', async () => {
    const inner = new MemoryEngine();
    let failNext = true;
    const engine = wrapEngine(inner, {
      append: ((input: Parameters<StreamEngine['append']>[0]) =>
        sleep(20).then(() => {
          if (failNext) {
            failNext = false;
            throw new TributaryError(ErrorCodes.UNAVAILABLE, 'store unreachable (injected)');
          }
          return inner.append(input);
        })) as never,
    });
    // A before-publish block that takes 50 ms (an HTTP call, a model, a lookup).
    const slow: PublishInterceptor = { name: 'slow', matches: () => true, intercept: () => sleep(50).then(() => undefined) };
    const b = await broker({ engine, interceptors: [slow] });
    const s = await socket(b.wsUrl);
    const frame = (i: number) => ({ type: 'publish', id: i, channel: 'ord', data: i, msgId: `m${i}` });
    for (let i = 1; i <= 3; i++) s.send(frame(i));
    await eventually(() => s.frames.filter((f) => typeof f.id === 'number').length === 3, {
      message: () => JSON.stringify(s.frames),
      timeoutMs: 10_000,
    });
    // The client's part: retry the failed ones, in order.
    for (const f of s.frames
      .filter((x) => x.type === 'error')
      .map((x) => x.id as number)
      .sort()) {
      expect(await s.request(frame(f))).toMatchObject({ type: 'ack' });
    }
    const stored = (await inner.read('ord', { limit: 10 })).entries.map((e) => JSON.parse(e.payload) as number);
    expect(stored, 'stored order after in-order retries').toEqual([1, 2, 3]);
  });
});
