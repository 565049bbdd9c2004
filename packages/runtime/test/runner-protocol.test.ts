import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { BlockError, compileBlock } from '../src/index.js';
import { resolveLimits } from '../src/limits.js';
import { RemoteLane } from '../src/process/lane.js';
import { RunnerPool, type RunnerExitReason } from '../src/process/pool.js';
import { deployFixture, fixture, requestBody, runner } from './helpers.js';

/**
 * The node trusts nothing a runner sends (#19): a runner is where hostile code runs, and code that
 * escaped isolated-vm would own the runner's end of the pipe. These tests put such a runner in front
 * of a real pool: whatever it sends, the node (this test process) stays up, kills it as `protocol`,
 * fails what waited on it with a typed error, and starts a new one.
 */

const HOSTILE = fixture('runner/hostile-runner.mjs');
const pools: RunnerPool[] = [];
afterEach(async () => {
  delete process.env.TRIBUTARY_TEST_HOSTILE_RUNNER;
  while (pools.length > 0) await pools.pop()?.close();
});

function hostilePool(mode: string): { pool: RunnerPool; exits: RunnerExitReason[] } {
  // Read by the spawned runner from its environment, which it inherits at spawn.
  process.env.TRIBUTARY_TEST_HOSTILE_RUNNER = mode;
  const exits: RunnerExitReason[] = [];
  const pool = new RunnerPool({ size: 1 }, { entry: HOSTILE, onExit: (reason) => exits.push(reason) });
  pools.push(pool);
  return { pool, exits };
}

async function loadOn(pool: RunnerPool): Promise<unknown> {
  const { code } = await compileBlock(fixture('echo.ts'));
  return RemoteLane.load(pool, code, resolveLimits({}, false), async () => null).then(
    () => 'loaded',
    (err: unknown) => err,
  );
}

describe('a runner that sends what no honest runner sends', () => {
  for (const mode of ['not-json', 'not-object', 'null', 'bad-shape', 'unknown-type', 'forged-code']) {
    it(`is killed and restarted, and the node stays up (${mode})`, async () => {
      const { pool, exits } = hostilePool(mode);
      // The load waits on the runner; the runner answers with garbage instead.
      const outcome = await loadOn(pool);
      expect(outcome).toBeInstanceOf(BlockError);
      expect((outcome as BlockError).code).toBe('RUNNER_EXITED');
      expect(exits[0]).toBe('protocol');
      // A new process took its place (and is killed in turn: it is just as hostile).
      const first = pool.processes[0];
      await eventually(async () => ((first?.generation ?? 0) >= 2 ? true : undefined), { timeoutMs: 10_000 });
    });
  }

  it('is stopped at the header of a 1 GiB frame, before the node buffers it', async () => {
    const before = process.memoryUsage().rss;
    const { pool, exits } = hostilePool('oversize');
    const outcome = await loadOn(pool);
    expect((outcome as BlockError).code).toBe('RUNNER_EXITED');
    expect(exits[0]).toBe('protocol');
    // Far less than the gigabyte it meant to send: the node read the header and stopped.
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
  });

  it('counts the kill under tributary_block_runner_exits_total{reason="protocol"}', async () => {
    const registry = new Registry();
    runner({ metrics: registry });
    const text = await registry.metrics();
    expect(text).toMatch(/^tributary_block_runner_exits_total\{reason="protocol"\} 0$/m);
  });
});

describe('an honest runner holding a block that makes an oversized message', () => {
  it('refuses a definition over the frame cap as INVALID_BLOCK, without losing its process', async () => {
    const registry = new Registry();
    const { runner: r } = runner({ metrics: registry });
    await deployFixture(r, 'echo.ts');
    const [proc] = r.processesOf('echo');
    const pid = proc?.pid;
    const err = await deployFixture(r, 'hostile/huge-definition.ts').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BlockError);
    expect((err as BlockError).code).toBe('INVALID_BLOCK');
    expect((err as BlockError).message).toMatch(/over the runner's cap/);
    // The neighbour's process was not killed for it.
    expect(r.processesOf('echo')[0]?.pid).toBe(pid);
    expect(await registry.metrics()).toMatch(/^tributary_block_runner_exits_total\{reason="(crashed|protocol)"\} 0$/m);
    expect(await registry.metrics()).not.toMatch(/^tributary_block_runner_exits_total\{reason="protocol"\} [1-9]/m);
  });

  it('still carries a large honest result (a 1 MiB request-block answer) across the boundary', async () => {
    const { runner: r } = runner();
    await deployFixture(r, 'echo-request.ts');
    const text = 'é'.repeat(500_000);
    expect(await requestBody(r, 'echo-request', { text })).toEqual({ text });
  });
});
