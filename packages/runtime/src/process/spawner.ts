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

  constructor(kill: (signal: NodeJS.Signals) => void) {
    super();
    this.#kill = kill;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exited) this.#kill(signal);
  }

  /** @internal The launcher handed over pipe `fd`. */
  take(fd: number, pid: number, socket: Socket): void {
    this.pid = pid;
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
    this.#toRunner?.destroy();
    this.#fromRunner?.destroy();
    this.emit('exit', code, signal);
  }
}

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
  readonly #runners = new Map<number, LaunchedRunner>();

  /** Starts `node <args>` as a runner process, with the environment this process has now. */
  spawn(args: string[]): LaunchedRunner {
    const launcher = this.#launcher();
    const id = this.#nextId++;
    const runner = new LaunchedRunner((signal) => {
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
    });
    this.#runners.set(id, runner);
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
    this.#orphaned();
  }

  #launcher(): ChildProcess {
    const running = this.#child;
    if (running?.connected) return running;
    // The one fork the node makes for its runners, with the pool's first one.
    const child = spawn(process.execPath, [processEntry('launcher')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#child = child;
    child.on('message', (m: FromLauncher, handle: unknown) => {
      const runner = this.#runners.get(m.id);
      if (m.t === 'spawned') {
        if (runner === undefined) (handle as Socket | undefined)?.destroy();
        else runner.take(m.fd, m.pid, handle as Socket);
      } else runner?.end(m.code, m.signal);
    });
    child.on('error', () => child.kill('SIGKILL'));
    child.once('exit', () => {
      if (this.#child === child) this.#child = undefined;
      this.#orphaned();
    });
    return child;
  }

  /** The launcher is gone: its runners are killed here, and reported exited. */
  #orphaned(): void {
    for (const runner of [...this.#runners.values()]) {
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
