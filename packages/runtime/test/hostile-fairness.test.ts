import { describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { deployFixture, payloads, runner } from './helpers.js';

/**
 * One block's backlog must not starve another's after-publish processing (#19). Counts, not time:
 * the trivial block's output appears while the busy block has not finished its backlog.
 */
describe('hostile blocks: fairness between blocks', () => {
  it("handles another block's message while one block's 1000-message backlog remains", async () => {
    const { runner: r, engine } = runner();
    await deployFixture(r, 'echo.ts');
    await deployFixture(r, 'hostile/backlog-busy.ts');
    for (let i = 0; i < 1000; i++) await engine.append({ channel: 'backlog.a', payload: JSON.stringify({ i }) });
    // Once the busy block has started on its backlog, a message for the trivial block.
    await eventually(async () => (await payloads(engine, 'backlog-done')).length >= 5);
    await engine.append({ channel: 'in.fair', payload: JSON.stringify({ fair: true }) });
    await eventually(async () => (await payloads(engine, 'out.in.fair'))[0], { timeoutMs: 30_000 });
    const busyDone = (await engine.read('backlog-done', { after: 0, limit: 2000 })).entries.length;
    expect(busyDone).toBeLessThan(1000);
    // And the backlog is still worked off.
    await eventually(async () => (await engine.read('backlog-done', { after: 0, limit: 2000 })).entries.length === 1000, {
      timeoutMs: 30_000,
    });
  }, 60_000);
});
