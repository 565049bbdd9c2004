import type { Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Corker } from './corker.js';

/**
 * The Corker's rules on a socket stand-in that records when its corked writes would leave (each
 * uncork back to zero is one writev). Timers and the clock are faked: the rule is about which
 * tick a write leaves in, and the test moves time itself.
 */
class RecordingSocket {
  destroyed = false;
  writableLength = 0;
  #corked = 0;
  #frames = 0;
  /** Frames per flush, in order. */
  readonly flushes: number[] = [];

  cork(): void {
    this.#corked++;
  }

  uncork(): void {
    this.#corked--;
    if (this.#corked === 0 && this.#frames > 0) {
      this.flushes.push(this.#frames);
      this.#frames = 0;
      this.writableLength = 0;
    }
  }

  /** What a session does for one frame: hold, then write. */
  frame(corker: Corker, coalesce: boolean, bytes = 100): void {
    corker.hold(this as unknown as Socket, coalesce);
    this.#frames++;
    this.writableLength += bytes;
    if (this.#corked === 0) this.uncork(); // never held: leaves at once
  }
}

const turn = (): Promise<void> => vi.advanceTimersToNextTimerAsync().then(() => undefined);

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'setImmediate', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Corker', () => {
  it('with coalescing off, writes a turn’s frames to a socket in one flush right after the turn', async () => {
    const c = new Corker(0);
    const s = new RecordingSocket();
    for (let i = 0; i < 5; i++) s.frame(c, true);
    expect(s.flushes).toEqual([]);
    await vi.advanceTimersByTimeAsync(0);
    expect(s.flushes).toEqual([5]);
    await vi.advanceTimersByTimeAsync(2);
    s.frame(c, true);
    await vi.advanceTimersByTimeAsync(0);
    expect(s.flushes).toEqual([5, 1]);
  });

  it('never holds a socket that gets fewer messages than one per interval', async () => {
    const c = new Corker(10);
    const s = new RecordingSocket();
    for (let i = 0; i < 5; i++) {
      s.frame(c, true);
      await vi.advanceTimersByTimeAsync(0);
      expect(s.flushes).toHaveLength(i + 1); // out after this turn, no wait
      await vi.advanceTimersByTimeAsync(15);
    }
  });

  it('holds a busy socket’s messages until the next tick of the interval, then writes them together', async () => {
    const c = new Corker(10);
    const s = new RecordingSocket();
    s.frame(c, true);
    await vi.advanceTimersByTimeAsync(0);
    expect(s.flushes).toEqual([1]);
    // Written just now: the next messages wait for the grid tick, at most 10 ms away.
    for (let i = 0; i < 4; i++) {
      await vi.advanceTimersByTimeAsync(1);
      s.frame(c, true);
    }
    expect(s.flushes).toEqual([1]);
    await vi.advanceTimersByTimeAsync(10);
    expect(s.flushes).toEqual([1, 4]);
  });

  it('lets a reply take a waiting socket’s messages along right after the turn', async () => {
    const c = new Corker(10);
    const s = new RecordingSocket();
    s.frame(c, true);
    await vi.advanceTimersByTimeAsync(0);
    s.frame(c, true); // waits for the tick
    s.frame(c, false); // an ack: never waits
    await turn();
    expect(s.flushes).toEqual([1, 2]);
  });

  it('stops a socket from waiting once it holds 64 KiB: it is written right after the turn', async () => {
    const c = new Corker(10);
    const s = new RecordingSocket();
    s.frame(c, true);
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 0; i < 3; i++) s.frame(c, true, 20 * 1024);
    await vi.advanceTimersByTimeAsync(0);
    expect(s.flushes).toEqual([1]); // 60 KiB: still waiting
    s.frame(c, true, 20 * 1024);
    s.frame(c, true, 20 * 1024); // the frame after 64 KiB moves it to this turn's flush
    await vi.advanceTimersByTimeAsync(0);
    expect(s.flushes).toEqual([1, 5]);
  });

  it('skips sockets destroyed while they waited', async () => {
    const c = new Corker(10);
    const s = new RecordingSocket();
    s.frame(c, true);
    await vi.advanceTimersByTimeAsync(0);
    s.frame(c, true);
    s.destroyed = true;
    await vi.advanceTimersByTimeAsync(20);
    expect(s.flushes).toEqual([1]);
  });
});
