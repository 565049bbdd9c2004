import { describe, expect, it, vi } from 'vitest';
import { TypedEmitter } from './emitter.js';

interface Events {
  a: number;
  b: string;
}

describe('TypedEmitter', () => {
  it('calls listeners in order; on() returns a remover; once() fires once', () => {
    const e = new TypedEmitter<Events>();
    const calls: string[] = [];
    const off = e.on('a', (n) => calls.push(`first ${n}`));
    e.on('a', (n) => calls.push(`second ${n}`));
    e.once('b', (s) => calls.push(`once ${s}`));
    e.emit('a', 1);
    e.emit('b', 'x');
    e.emit('b', 'y');
    off();
    e.emit('a', 2);
    expect(calls).toEqual(['first 1', 'second 1', 'once x', 'second 2']);
    expect(e.listenerCount('b')).toBe(0);
  });

  it('a throwing listener does not stop the others; the error surfaces asynchronously', async () => {
    const e = new TypedEmitter<Events>();
    const thrown = vi.fn();
    const queue = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((fn) => {
      try {
        fn();
      } catch (err) {
        thrown(err);
      }
    });
    const after = vi.fn();
    e.on('a', () => {
      throw new Error('listener bug');
    });
    e.on('a', after);
    e.emit('a', 1);
    queue.mockRestore();
    expect(after).toHaveBeenCalledWith(1);
    expect(thrown).toHaveBeenCalledWith(new Error('listener bug'));
  });
});
