import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { eventually } from '@tributary/testkit';
import { deployFixture, echoStillWorks, fixture, runner } from './helpers.js';

/**
 * Runner processes are started by a small launcher process, never forked by the node itself (#19):
 * a fork stops the process that makes it while its page tables are copied (5–20 ms for a node of
 * 40–550 MiB on the benchmark machine), which was the node's longest event-loop stall when a runner
 * was killed under load. The stall itself is measured in BENCHMARKS.md; these tests hold the
 * structure and what a launcher's own death or its node's costs.
 */

/** /proc/<pid>/stat after the command name (which may hold spaces): "state ppid …". */
function stat(pid: number): string[] | undefined {
  try {
    return (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  } catch {
    return undefined;
  }
}

const parentOf = (pid: number): number => Number(stat(pid)?.[1]);

/** Running: neither gone nor a zombie (an orphan's parent may be slow to reap it). */
const alive = (pid: number): boolean => {
  const state = stat(pid)?.[0];
  return state !== undefined && state !== 'Z';
};

/** Runner exits counted by the node, by reason. */
async function exits(registry: Registry): Promise<Record<string, number>> {
  const m = (await registry.getSingleMetric('tributary_block_runner_exits_total')?.get())?.values ?? [];
  return Object.fromEntries(m.filter((v) => v.value > 0).map((v) => [String(v.labels.reason), v.value]));
}

describe('runner processes are started by a launcher, not by the node', () => {
  it('the node is not the parent of its runners, neither at start nor after a restart', async () => {
    const { runner: r } = runner();
    await deployFixture(r, 'echo.ts');
    const proc = r.processesOf('echo')[0];
    const first = proc?.pid as number;
    const launcher = parentOf(first);
    expect(launcher).not.toBe(process.pid);
    expect(parentOf(launcher)).toBe(process.pid);
    proc?.kill();
    const second = await eventually(async () => (proc?.up && proc.pid !== first ? proc.pid : undefined), { timeoutMs: 10_000 });
    expect(parentOf(second as number)).toBe(launcher);
  });

  it('a launcher killed with SIGKILL takes its runners with it; they restart under a new one and work again', async () => {
    const registry = new Registry();
    const { runner: r, engine } = runner({ metrics: registry });
    await deployFixture(r, 'echo.ts');
    await echoStillWorks(engine);
    const proc = r.processesOf('echo')[0];
    const first = proc?.pid as number;
    const launcher = parentOf(first);
    expect(launcher).not.toBe(process.pid);
    process.kill(launcher, 'SIGKILL');
    await eventually(async () => (!alive(first) ? true : undefined), { timeoutMs: 10_000 });
    await eventually(async () => (proc?.up && proc.pid !== first ? true : undefined), { timeoutMs: 10_000 });
    const newLauncher = parentOf(proc?.pid as number);
    expect(newLauncher).not.toBe(launcher);
    expect(parentOf(newLauncher)).toBe(process.pid);
    expect(await exits(registry)).toEqual({ crashed: 1 });
    await echoStillWorks(engine);
  });

  it('a runner killed under a stopped launcher is still restarted: the launcher is replaced once its report is overdue', async () => {
    const { runner: r, engine } = runner();
    await deployFixture(r, 'echo.ts');
    const proc = r.processesOf('echo')[0];
    const first = proc?.pid as number;
    const launcher = parentOf(first);
    expect(launcher).not.toBe(process.pid);
    process.kill(launcher, 'SIGSTOP');
    try {
      // As the watchdog does (memory, silence, protocol): the stopped launcher cannot report the exit.
      proc?.kill();
      await eventually(async () => (proc?.up && proc.pid !== first ? true : undefined), { timeoutMs: 20_000 });
      expect(parentOf(proc?.pid as number)).not.toBe(launcher);
      expect(alive(launcher)).toBe(false);
      await echoStillWorks(engine);
    } finally {
      if (alive(launcher)) process.kill(launcher, 'SIGKILL');
    }
  });

  it('a node killed with SIGKILL leaves no launcher and no runner behind', async () => {
    const host = spawn(process.execPath, ['--import', 'tsx', fixture('runner/pool-host.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: host.stdout }).once('line', resolve);
      host.once('exit', (code) => reject(new Error(`the host exited (${code}) before it printed its pids`)));
    });
    const pids = JSON.parse(line) as { runner: number; launcher: number };
    expect(alive(pids.runner) && alive(pids.launcher)).toBe(true);
    host.kill('SIGKILL');
    await eventually(async () => (!alive(pids.runner) && !alive(pids.launcher) ? true : undefined), { timeoutMs: 10_000 });
  });
});
