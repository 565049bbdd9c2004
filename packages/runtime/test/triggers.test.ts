import { MemoryEngine } from '@tributary/engine';
import { describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { deployFixture, runner } from './helpers.js';

const payloads = async (engine: MemoryEngine, channel: string) =>
  (await engine.read(channel, { limit: 1000, after: 0 })).entries.map((e) => JSON.parse(e.payload) as Record<string, unknown>);

describe('after-publish delivery', () => {
  it('retries a failing message with backoff and succeeds on a later attempt', async () => {
    const { runner: r, engine } = runner({ retry: { attempts: 5, baseMs: 5, maxMs: 20 } });
    await deployFixture(r, 'flaky.ts');
    await engine.append({ channel: 'jobs.a', payload: JSON.stringify({ id: 'j1', failUntil: 2 }) });
    const done = await eventually(async () => (await payloads(engine as MemoryEngine, 'done'))[0]);
    expect(done).toEqual({ id: 'j1', attempt: 3 });
    // Acked once the result is back from the runner, a moment after the output is stored.
    expect(await eventually(async () => (await engine.groups.pending('block.flaky')) === 0)).toBe(true);
  });

  it('handles a backlog in order: a failing message holds back the ones behind it until it succeeds or is dead-lettered', async () => {
    const { runner: r, engine } = runner({ retry: { attempts: 3, baseMs: 5, maxMs: 20 } });
    // Appended before the block runs, so its lane takes them as one run in its runner process.
    await engine.groups.register('block.flaky', ['jobs.*']);
    const jobs = [
      { id: 'a', failUntil: 0 },
      { id: 'b', failUntil: 2 },
      { id: 'c', failUntil: 0 },
      { id: 'd', failUntil: 99 },
      { id: 'e', failUntil: 0 },
    ];
    for (const j of jobs) await engine.append({ channel: 'jobs.x', payload: JSON.stringify(j) });
    await deployFixture(r, 'flaky.ts');
    const done = await eventually(async () => {
      const d = await payloads(engine as MemoryEngine, 'done');
      return d.length === 4 ? d : undefined;
    });
    // b succeeded on its third attempt before c ran; d was dead-lettered before e ran.
    expect(done).toEqual([
      { id: 'a', attempt: 1 },
      { id: 'b', attempt: 3 },
      { id: 'c', attempt: 1 },
      { id: 'e', attempt: 1 },
    ]);
    expect(await payloads(engine as MemoryEngine, '$dlq.flaky')).toMatchObject([{ data: { id: 'd' }, attempts: 3 }]);
    const dead = (await engine.read('$dlq.flaky', { after: 0, limit: 10 })).entries[0];
    const e = (await engine.read('done', { after: 0, limit: 10 })).entries[3];
    expect(dead?.time).toBeLessThanOrEqual(e?.time as number);
    expect(await engine.kv.get('block:flaky', 'attempts:c')).toBe('1');
    expect(await eventually(async () => (await engine.groups.pending('block.flaky')) === 0)).toBe(true);
    // a, c, e once; b and d three times each.
    expect(r.list()[0]?.stats).toMatchObject({ invocations: 3 + 3 + 3, errors: 2 + 3 });
  });

  it('dead-letters a message after N failed attempts with the error, and acks it', async () => {
    const { runner: r, engine } = runner({ retry: { attempts: 3, baseMs: 5, maxMs: 20 } });
    await deployFixture(r, 'flaky.ts');
    await engine.append({ channel: 'jobs.b', payload: JSON.stringify({ id: 'j2', failUntil: 99 }), msgId: 'm-1' });
    const dead = await eventually(async () => (await payloads(engine as MemoryEngine, '$dlq.flaky'))[0]);
    expect(dead).toMatchObject({
      block: 'flaky',
      channel: 'jobs.b',
      offset: 1,
      msgId: 'm-1',
      attempts: 3,
      data: { id: 'j2', failUntil: 99 },
      error: { code: 'HANDLER_ERROR', message: expect.stringContaining('attempt 3 failed on purpose') },
    });
    expect(await engine.kv.get('block:flaky', 'attempts:j2')).toBe('3');
    // Acked once the result is back from the runner, a moment after the output is stored.
    expect(await eventually(async () => (await engine.groups.pending('block.flaky')) === 0)).toBe(true);
    expect(r.list()[0]?.stats.errors).toBe(3);
  });

  it('hands a message left unacked by a dead runner to another runner, which finishes it', async () => {
    const engine = new MemoryEngine();
    const { runner: a } = runner({ engine, consumer: 'a', claimIdleMs: 300 });
    await deployFixture(a, 'slow.ts');
    await engine.append({ channel: 'work', payload: JSON.stringify({ hang: true, id: 1 }) });
    await eventually(async () => engine.kv.get('block:slow', 'starts:1'));
    await a.close(); // dies mid-message: the entry stays pending for consumer a
    expect(await engine.groups.pending('block.slow')).toBe(1);
    const { runner: b } = runner({ engine, consumer: 'b', claimIdleMs: 300 });
    await deployFixture(b, 'slow.ts');
    await engine.append({ channel: 'work', payload: JSON.stringify({ hang: false, id: 2 }) });
    const finished = await eventually(async () => {
      const f = await payloads(engine, 'finished');
      return f.length === 2 ? f : undefined;
    });
    expect(finished.sort((x, y) => (x.id as number) - (y.id as number))).toEqual([
      { id: 1, starts: 2 }, // the second start, on runner b
      { id: 2, starts: 1 },
    ]);
    expect(await eventually(async () => (await engine.groups.pending('block.slow')) === 0)).toBe(true);
    await engine.close();
  });

  it('reports messages retention trimmed before the block read them, in its stats and its log', async () => {
    const engine = new MemoryEngine({ retention: { maxLength: 6 } });
    const logLines: Array<{ level: string; message: string }> = [];
    await engine.follow('$logs.echo', (e) => void logLines.push(JSON.parse(e.payload) as { level: string; message: string }));
    const { runner: a } = runner({ engine, consumer: 'a' });
    await deployFixture(a, 'echo.ts'); // registers the block's group
    await a.close(); // no runner reads while the backlog outgrows retention
    for (let i = 0; i < 20; i++) await engine.append({ channel: 'in.x', payload: JSON.stringify(i) });
    const { runner: b } = runner({ engine, consumer: 'b' });
    await deployFixture(b, 'echo.ts');
    await eventually(async () => (await engine.read('out.in.x', { limit: 10, after: 0 })).entries.length === 6);
    expect(b.list()[0]?.stats.skipped).toBe(14);
    const logs = await eventually(() => logLines.find((x) => x.level === 'error'));
    expect(logs).toMatchObject({ message: expect.stringContaining('14 message(s) on in.x (offsets 1–14) were trimmed') });
    await engine.close();
  });

  it('stops a block that republishes to its own trigger at the hop limit', async () => {
    const { runner: r, engine } = runner();
    await deployFixture(r, 'loop.ts');
    await engine.append({ channel: 'ping', payload: '{}' });
    await eventually(async () => (await payloads(engine as MemoryEngine, '$dlq.loop')).length === 1);
    const pings = await payloads(engine as MemoryEngine, 'ping');
    // The client message plus one republish per allowed hop (1..8); the 9th is refused.
    expect(pings).toHaveLength(9);
    const dead = (await payloads(engine as MemoryEngine, '$dlq.loop'))[0];
    expect(dead?.error).toMatchObject({ code: 'HOP_LIMIT', message: expect.stringContaining('hop limit') });
  });
});

describe('request and interval triggers', () => {
  it('answers requests through the block with its config and kv', async () => {
    const { runner: r } = runner();
    await deployFixture(r, 'hello-request.ts', { greeting: 'hi' });
    const req = { method: 'GET', path: '/x', query: { name: 'ada' }, headers: {}, body: undefined };
    expect(await r.handleRequest('hello', req)).toEqual({ status: 200, body: { path: '/x', who: 'ada', n: 1, greeting: 'hi' } });
    expect(await r.handleRequest('hello', req)).toMatchObject({ body: { n: 2 } });
    expect(await r.handleRequest('nope', req)).toBeUndefined();
  });

  it('runs an interval block once per period across several runners', async () => {
    const engine = new MemoryEngine();
    const { runner: a } = runner({ engine, consumer: 'a' });
    const { runner: b } = runner({ engine, consumer: 'b' });
    await deployFixture(a, 'ticker.ts');
    await deployFixture(b, 'ticker.ts');
    const ticks = await eventually(
      async () => {
        const t = await payloads(engine, 'ticks');
        return t.length >= 2 ? t : undefined;
      },
      { timeoutMs: 5000 },
    );
    const times = ticks.map((t) => t.time as number);
    expect(new Set(times).size).toBe(times.length); // no slot ran twice
    await engine.close();
  });
});
