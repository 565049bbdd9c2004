import { describe, expect, it } from 'vitest';
import { Outbox } from '../src/process/messages.js';

function sink() {
  const batches: string[][] = [];
  return { batches, outbox: new Outbox<string>({ send: (b) => batches.push(b) }) };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('the runner outbox', () => {
  it('sends what one turn pushed as one batch', async () => {
    const { batches, outbox } = sink();
    outbox.push('a');
    outbox.push('b');
    await turn();
    expect(batches).toEqual([['a', 'b']]);
  });

  it('sends a held message with the next one pushed in a later turn: one write, not two', async () => {
    const { batches, outbox } = sink();
    // Held far longer than the test takes, so only the next push can send it.
    outbox.hold('result 1', 60_000);
    await turn();
    await turn();
    expect(batches).toEqual([]);
    outbox.push('call of invocation 2');
    await turn();
    expect(batches).toEqual([['result 1', 'call of invocation 2']]);
  });

  it('sends a held message on its own when nothing follows', async () => {
    const { batches, outbox } = sink();
    outbox.hold('last result', 1);
    for (let i = 0; i < 200 && batches.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(batches).toEqual([['last result']]);
  });

  it('forgets a held message when cleared (the other side is gone)', async () => {
    const { batches, outbox } = sink();
    outbox.hold('result');
    outbox.clear();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(batches).toEqual([]);
  });
});
