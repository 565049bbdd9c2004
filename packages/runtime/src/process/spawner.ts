import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { processEntry } from './entry.js';

/**
 * A runner process started by the pool's launcher (see launcher.ts): what the pool needs of a
 * ChildProcess. Its pipes arrive once the launcher has started it (`pipes`); it emits `exit` with
 * the code and signal the launcher saw, exactly once, also when it never started.
 */
export class LaunchedRunner extends EventEmitter<{
  pipes: [toRunner: Socket, fromRunner: Socket];
  exit: [code: number | null, signal: NodeJS.Signals | null];
}> {
  pid: number | undefined;
  exited = false;
  #toRunner: Socket | undefined;
  #fromRunner: Socket | undefined;
  readonly #kill: (signal: NodeJS.Signals) => void;
  readonly #stuck: () => void;
  #unreported: NodeJS.Timeout | undefined;

  /** `kill` signals it; `stuck` is called when its exit goes unreported after a kill (see {@link EXIT_REPORT_MS}). */
  constructor(kill: (signal: NodeJS.Signals) => void, stuck: () => void) {
    super();
    this.#kill = kill;
    this.#stuck = stuck;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.exited) return;
    this.#kill(signal);
    this.#unreported ??= setTimeout(() => {
      if (!this.exited) this.#stuck();
    }, EXIT_REPORT_MS).unref();
  }

  /** @internal The launcher handed over pipe `fd`. */
  take(fd: number, pid: number, socket: Socket | undefined): void {
    this.pid = pid;
    if (socket === undefined) {
      // The pipe did not make it across: the process is of no use.
      this.kill('SIGKILL');
      return;
    }
    if (this.exited) {
      socket.destroy();
      return;
    }
    if (fd === 3) this.#toRunner = socket;
    else this.#fromRunner = socket;
    if (this.#toRunner !== undefined && this.#fromRunner !== undefined) this.emit('pipes', this.#toRunner, this.#fromRunner);
  }

  /** @internal The launcher saw it exit (or could not start it, or is gone itself). */
  end(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    this.exited = true;
    clearTimeout(this.#unreported);
    this.#toRunner?.destroy();
    this.#fromRunner?.destroy();
    this.emit('exit', code, signal);
  }
}

/**
 * How long the node waits for the launcher to report a runner it killed as exited. Past it, the
 * launcher is taken for stuck (stopped, say): it is killed, its runners are reported exited, and
 * the next start brings a new one. Without it, a runner killed under a stuck launcher would never
 * be restarted.
 */
const EXIT_REPORT_MS = 5000;

type FromLauncher =
  | { t: 'spawned'; id: number; pid: number; fd: 3 | 4 }
  | { t: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null };

/**
 * The node's side of a launcher process: started with the pool's first runner, started again if it
 * dies (its runners are then killed and reported exited, and restart like after a crash).
 */
export class Launcher {
  #child: ChildProcess | undefined;
  #nextId = 1;
  /** Each runner and the launcher that started it. */
  readonly #runners = new Map<number, { runner: LaunchedRunner; launcher: ChildProcess }>();

  /** Starts `node <args>` as a runner process, with the environment this process has now. */
  spawn(args: string[]): LaunchedRunner {
    const launcher = this.#launcher();
    const id = this.#nextId++;
    const runner = new LaunchedRunner(
      (signal) => {
        // Signalled from here when its pid is known, so it stops now and not once the launcher reads
        // the order: nothing sent after a kill may still run. The launcher reaps it and reports its exit
        // (only then could its pid be reused, and `exited` is set by that report).
        if (runner.pid !== undefined) {
          try {
            process.kill(runner.pid, signal);
            return;
          } catch {
            // Gone already: its exit report is on its way.
          }
        }
        if (launcher.connected) launcher.send({ t: 'kill', id, signal });
      },
      () => this.#replace(launcher),
    );
    this.#runners.set(id, { runner, launcher });
    runner.once('exit', () => this.#runners.delete(id));
    if (launcher.connected) launcher.send({ t: 'spawn', id, args, env: process.env });
    else queueMicrotask(() => runner.end(null, null));
    return runner;
  }

  /** Kills the launcher (and so, through their pipes and its own exit, its runners). */
  close(): void {
    const child = this.#child;
    this.#child = undefined;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    this.#orphaned(undefined);
  }

  #launcher(): ChildProcess {
    const running = this.#child;
    if (running?.connected) return running;
    // The one fork the node makes for its runners, with the pool's first one.
    const child = spawn(process.execPath, [processEntry('launcher')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#child = child;
    child.on('message', (m: FromLauncher, handle: unknown) => {
      const runner = this.#runners.get(m.id)?.runner;
      if (m.t === 'spawned') {
        if (runner === undefined) (handle as Socket | undefined)?.destroy();
        else runner.take(m.fd, m.pid, handle as Socket | undefined);
      } else runner?.end(m.code, m.signal);
    });
    child.on('error', () => child.kill('SIGKILL'));
    child.once('exit', () => {
      if (this.#child === child) this.#child = undefined;
      // Only its own: a successor may already be starting runners.
      this.#orphaned(child);
    });
    return child;
  }

  /** Kills a launcher that stopped reporting (its exit then orphans its runners, as any exit does). */
  #replace(launcher: ChildProcess): void {
    if (launcher.exitCode === null && launcher.signalCode === null) launcher.kill('SIGKILL');
  }

  /** `launcher` (every one, for undefined) is gone: its runners are killed here, and reported exited. */
  #orphaned(launcher: ChildProcess | undefined): void {
    for (const { runner, launcher: of } of [...this.#runners.values()]) {
      if (launcher !== undefined && of !== launcher) continue;
      if (runner.pid !== undefined) {
        try {
          process.kill(runner.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      runner.end(null, 'SIGKILL');
    }
  }
}
