import { MemoryEngine } from '@tributary/engine';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { type BlockError, compileSource, type BlockRunner } from '../src/index.js';
import { blockRequest, deployFixture, echoStillWorks, payloads, POISON_BLOCK, requestBody, runner } from './helpers.js';

/**
 * Block code runs in runner processes, never in the node's (#19). Each test attacks that boundary
 * with a hostile block or a dying runner and asserts what a user of the node would notice: the
 * node's own event loop keeps turning, no accepted message is lost, and a dead runner comes back.
 * No timing assertions: orders of events and counts.
 */

async function exits(registry: Registry, reason: string): Promise<number> {
  const m = (await registry.getSingleMetric('tributary_block_runner_exits_total')?.get())?.values ?? [];
  return m.find((v) => v.labels.reason === reason)?.value ?? 0;
}

const settled = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err }),
  );

describe('blocks run outside the node process', () => {
  it("a block burning its whole CPU limit does not stop the node's event loop", async () => {
    const { runner: r } = runner();
    await deployFixture(r, 'hostile/spin.ts');
    // Warm: the isolate is loaded, so the next call spends its time in the loop.
    await requestBody(r, 'hostile-spin', { ms: 1 });
    const order: string[] = [];
    const spin = r.handleRequest('hostile-spin', blockRequest({ ms: 2000 })).then(() => order.push('block finished'));
    // Timers and immediates of this process run while the block spins in its runner.
    await new Promise((resolve) => setTimeout(resolve, 50));
    order.push('timer fired');
    await new Promise((resolve) => setImmediate(resolve));
    order.push('immediate ran');
    await spin;
    expect(order).toEqual(['timer fired', 'immediate ran', 'block finished']);
    expect(r.processesOf('hostile-spin')[0]?.pid).not.toBe(process.pid);
  });

  it("one block's runaway invocation does not hold up another block on another runner", async () => {
    const { runner: r, engine } = runner({ runners: { size: 2 } });
    await deployFixture(r, 'hostile/spin.ts');
    await deployFixture(r, 'echo.ts');
    // Each block on its own process (lanes go to the process with the fewest).
    expect(r.processesOf('hostile-spin')[0]).not.toBe(r.processesOf('echo')[0]);
    let spinning = true;
    const spin = r.handleRequest('hostile-spin', blockRequest({ ms: 3000 })).finally(() => {
      spinning = false;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(spinning).toBe(true);
    await echoStillWorks(engine);
    expect(spinning).toBe(true);
    await spin;
  });

  for (const signal of ['SIGKILL', 'SIGABRT'] as const) {
    it(`a runner killed with ${signal} mid-message costs only that invocation: it is retried, counted, and the runner restarts`, async () => {
      const registry = new Registry();
      const { runner: r, engine } = runner({ metrics: registry, retry: { attempts: 5, baseMs: 10, maxMs: 50 } });
      await deployFixture(r, 'slow.ts');
      await deployFixture(r, 'echo.ts');
      const [proc] = r.processesOf('slow');
      const pid = proc?.pid as number;
      await engine.append({ channel: 'work', payload: JSON.stringify({ hang: true, id: 1 }) });
      await eventually(async () => engine.kv.get('block:slow', 'starts:1'));
      // What a V8 fatal error does (SIGABRT), or an operator's kill -9.
      process.kill(pid, signal);
      // The message is handled again in the restarted runner: not lost, not dead-lettered.
      expect(await eventually(async () => (await payloads(engine, 'finished'))[0], { timeoutMs: 15_000 })).toEqual({ id: 1, starts: 2 });
      expect(await payloads(engine, '$dlq.slow')).toEqual([]);
      expect(proc?.pid).not.toBe(pid);
      expect(await exits(registry, 'crashed')).toBe(1);
      const stats = r.list().find((b) => b.name === 'slow')?.stats;
      expect(stats?.lastError?.code).toBe('RUNNER_EXITED');
      // Every block placed on that process works again (reloaded: a cold start).
      await echoStillWorks(engine);
      expect(stats?.coldStarts).toBeGreaterThanOrEqual(2);
    });
  }

  it('a before-publish block whose runner is down fails closed: the publish is rejected with a typed error', async () => {
    const { runner: r } = runner();
    await deployFixture(r, 'stamp.ts');
    const publish = (data: number) => r.interceptor.intercept({ channel: 'stamped.a', data });
    expect(await publish(1)).toEqual({ data: { stamped: true, original: 1 } });
    const [proc] = r.processesOf('stamp');
    proc?.kill();
    const refused = await settled(publish(2));
    expect(refused.ok).toBe(false);
    const err = (refused as { err: { code: string; message: string } }).err;
    expect(err.code).toBe('REJECTED');
    expect(err.message).toMatch(/RUNNER_(EXITED|UNAVAILABLE)/);
    // Back once the runner has restarted.
    expect(await eventually(async () => (await settled(publish(3))).ok && publish(3), { timeoutMs: 10_000 })).toEqual({
      data: { stamped: true, original: 3 },
    });
  });

  it("a runner whose memory passes its blocks' declared heaps plus its overhead is restarted; the node does not grow", async () => {
    const registry = new Registry();
    const { runner: r } = runner({ metrics: registry, runners: { size: 1, overheadMb: 160 } });
    await deployFixture(r, 'hostile/wasm-touch.ts');
    const before = process.memoryUsage.rss();
    // 128 MiB of touched WebAssembly memory per call, outside the isolate's 32 MiB heap.
    const outcomes: string[] = [];
    for (let i = 0; i < 20 && (await exits(registry, 'memory')) === 0; i++) {
      const out = await settled(r.handleRequest('hostile-wasm-touch', blockRequest()));
      outcomes.push(out.ok ? 'ok' : (out.err as BlockError).code);
      // The budget is checked at each heartbeat (every second).
      await new Promise((resolve) => setTimeout(resolve, 600));
    }
    expect(await exits(registry, 'memory'), outcomes.join()).toBe(1);
    // The new process is judged on its own memory, not its predecessor's last heartbeat.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(await exits(registry, 'memory')).toBe(1);
    // The first call fits the budget and is answered; the restart comes once a heartbeat shows more.
    expect(outcomes[0]).toBe('ok');
    expect(process.memoryUsage.rss() - before).toBeLessThan(100 * 1024 * 1024);
    // The block runs again, from a fresh isolate in the new process.
    expect(
      await eventually(
        async () => {
          const out = await settled(r.handleRequest('hostile-wasm-touch', blockRequest()));
          return out.ok ? out.value : undefined;
        },
        { timeoutMs: 10_000 },
      ),
    ).toMatchObject({ body: { kept: 1 } });
  });

  it('a runner that stops answering is killed and restarted', async () => {
    const registry = new Registry();
    const { runner: r, engine } = runner({ metrics: registry, runners: { size: 1, unresponsiveMs: 1500 } });
    await deployFixture(r, 'echo.ts');
    await echoStillWorks(engine);
    const [proc] = r.processesOf('echo');
    const pid = proc?.pid as number;
    // Frozen: no heartbeat, no answers (a runner stuck in native code looks the same).
    process.kill(pid, 'SIGSTOP');
    expect(await eventually(async () => (await exits(registry, 'unresponsive')) === 1, { timeoutMs: 10_000 })).toBe(true);
    expect(proc?.pid).not.toBe(pid);
    await echoStillWorks(engine);
  });

  it('closing the runner ends its processes', async () => {
    const engine = new MemoryEngine();
    const { runner: r } = runner({ engine });
    await deployFixture(r, 'echo.ts');
    const pid = r.processesOf('echo')[0]?.pid as number;
    expect(() => process.kill(pid, 0)).not.toThrow();
    await r.close();
    expect(() => process.kill(pid, 0)).toThrow();
    await engine.close();
  });

  it('answers a host call only to the process that made it: a reply outliving its runner reaches no other block', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let releaseB!: () => void;
    const heldB = new Promise<void>((resolve) => {
      releaseB = resolve;
    });
    let bCalled!: () => void;
    const bCalling = new Promise<void>((resolve) => {
      bCalled = resolve;
    });
    const { runner: r } = runner({
      runners: { size: 1 },
      modules: {
        slow: {
          // A's call is held until its runner is gone and B has made a call of its own; B's is
          // answered after A's.
          wait: async (args) => {
            const { tag } = args as { tag: string };
            if (tag === 'B-own') bCalled();
            await (tag === 'A-private' ? held : heldB);
            return tag;
          },
        },
      },
    });
    await deployCaller(r, 'caller-a', 'A-private');
    await deployCaller(r, 'caller-b', 'B-own');
    const a = settled(r.handleRequest('caller-a', blockRequest()));
    await new Promise((resolve) => setTimeout(resolve, 200));
    r.processesOf('caller-a')[0]?.kill();
    expect((await a).ok).toBe(false);
    // B's first call in the new process has the same per-process call id A's had.
    const b = r.handleRequest('caller-b', blockRequest());
    await bCalling;
    release();
    await new Promise((resolve) => setTimeout(resolve, 100));
    releaseB();
    expect(await b).toMatchObject({ body: { got: 'B-own' } });
  });

  it('lets invocations of several lanes run back to back on one runner without taking it for hung', async () => {
    const registry = new Registry();
    const { runner: r } = runner({ metrics: registry, runners: { size: 1, unresponsiveMs: 2500 } });
    await r.deploy(await compileSource(SPIN_LANES));
    // Four 1.5 s spins queued at once: 6 s of block code, more than unresponsiveMs, in one turn.
    const out = await Promise.all(Array.from({ length: 4 }, () => settled(r.handleRequest('spin-lanes', blockRequest({ ms: 1500 })))));
    expect(out.map((o) => o.ok)).toEqual([true, true, true, true]);
    expect(await exits(registry, 'unresponsive')).toBe(0);
  });

  it('does not take a stall of the node itself for a silent runner', async () => {
    const registry = new Registry();
    const { runner: r, engine } = runner({ metrics: registry, runners: { size: 1, unresponsiveMs: 1500 } });
    await deployFixture(r, 'echo.ts');
    await echoStillWorks(engine);
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      /* the node's own thread is busy: heartbeats wait unread */
    }
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await exits(registry, 'unresponsive')).toBe(0);
    await echoStillWorks(engine);
  });

  it('restarts a runner that hangs before it is ready', async () => {
    const registry = new Registry();
    const { runner: r, engine } = runner({ metrics: registry, runners: { size: 1, unresponsiveMs: 1500 } });
    await deployFixture(r, 'echo.ts');
    const proc = r.processesOf('echo')[0];
    const first = proc?.pid;
    proc?.kill();
    // Freeze the successor as soon as it exists, before it says ready.
    let frozen: number | undefined;
    while (frozen === undefined) {
      const pid = proc?.pid;
      if (pid !== undefined && pid !== first) {
        process.kill(pid, 'SIGSTOP');
        frozen = pid;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(proc?.up).toBe(false);
    expect(await eventually(async () => (await exits(registry, 'unresponsive')) >= 1, { timeoutMs: 10_000 })).toBe(true);
    await echoStillWorks(engine);
    expect(proc?.pid).not.toBe(frozen);
  });

  it("does not count a neighbour's crash of the shared runner against a message", async () => {
    let crashes = 0;
    const { runner: r, engine } = runner({
      runners: { size: 1 },
      // One attempt: a crash held against a message would dead-letter it at once.
      retry: { attempts: 1, baseMs: 10, maxMs: 50 },
      modules: {
        chaos: {
          // The poison block's first call takes its runner down, like a V8 fatal error would.
          crash: async () => {
            if (++crashes > 1) return null;
            r.processesOf('poison')[0]?.kill();
            await new Promise(() => {});
            return null;
          },
        },
      },
    });
    await r.deploy(await compileSource(POISON_BLOCK));
    await deployFixture(r, 'slow.ts');
    await engine.append({ channel: 'work', payload: JSON.stringify({ hang: true, id: 7 }) });
    await eventually(async () => engine.kv.get('block:slow', 'starts:7'));
    await engine.append({ channel: 'poison.in', payload: '{}' });
    // Both messages were in flight when the runner died: the crash was shared, so neither is
    // blamed; both run again and are handled.
    expect(await eventually(async () => (await payloads(engine, 'finished'))[0], { timeoutMs: 20_000 })).toEqual({ id: 7, starts: 2 });
    await eventually(() => crashes === 2, { timeoutMs: 20_000 });
    expect(await payloads(engine, '$dlq.slow')).toEqual([]);
    expect(await payloads(engine, '$dlq.poison')).toEqual([]);
  });

  it('a runner pool closed while an invocation waits for a restarting runner settles it with STOPPED', async () => {
    const { runner: r } = runner({ runners: { size: 1 } });
    await deployFixture(r, 'stamp.ts');
    const proc = r.processesOf('stamp')[0];
    proc?.kill();
    await eventually(() => proc?.up === false);
    const waiting = settled(r.interceptor.intercept({ channel: 'stamped.x', data: 1 }));
    await r.pool.close();
    const out = await waiting;
    expect(out.ok).toBe(false);
    expect(String((out as { err: Error }).err.message)).toMatch(/STOPPED/);
  });
});

/** A request block calling the test's `slow.wait` host module with `tag`. */
async function deployCaller(r: BlockRunner, name: string, tag: string): Promise<void> {
  await r.deploy(
    await compileSource(`
import { defineBlock } from '@tributary/block';
export default defineBlock({
  name: '${name}',
  trigger: { request: true },
  limits: { wallMs: 10000 },
  async handle(_req, ctx) {
    return { body: { got: await ctx.call('slow', 'wait', { tag: '${tag}' }) } };
  },
});`),
  );
}

const SPIN_LANES = `
import { defineBlock } from '@tributary/block';
export default defineBlock({
  name: 'spin-lanes',
  trigger: { request: true },
  concurrency: 4,
  limits: { cpuMs: 2000, wallMs: 20000, memoryMb: 64 },
  handle(req) {
    const until = Date.now() + Number((req.body as { ms: number }).ms);
    while (Date.now() < until) {}
    return { body: { ok: true } };
  },
});`;
