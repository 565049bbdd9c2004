import { spawn, type ChildProcess } from 'node:child_process';

/**
 * The main of a runner pool's launcher process: it starts runner processes for its node and hands
 * their pipes over, so the node itself never forks once it serves. fork() copies the page tables of
 * the process that calls it and stops that process meanwhile: measured on the 2-core benchmark
 * machine, 5–20 ms for a node of 40–550 MiB, a stall of every socket at each runner restart (a
 * kill -9 under load, a crash). This process stays small, so its forks are short and stall nobody
 * that serves. It runs no block code and takes orders only from its node, over Node's IPC channel.
 *
 * Node → launcher: `{ t: 'spawn', id, args, env }`, `{ t: 'kill', id, signal }`.
 * Launcher → node: `{ t: 'spawned', id, pid, fd: 3 | 4 }` with that pipe as the message's handle,
 * `{ t: 'exit', id, code, signal }` (also when the spawn failed).
 */

interface Spawn {
  t: 'spawn';
  id: number;
  args: string[];
  env: NodeJS.ProcessEnv;
}

interface Kill {
  t: 'kill';
  id: number;
  signal: NodeJS.Signals;
}

const children = new Map<number, ChildProcess>();

function send(message: object, handle?: unknown): void {
  if (!process.connected) return;
  // biome-ignore lint/suspicious/noExplicitAny: process.send takes a net.Socket as its handle
  process.send?.(message, handle as any, {}, () => {});
}

function start(m: Spawn): void {
  // fd 3 carries the node's frames to the runner, fd 4 the runner's back (see channel.ts).
  const child = spawn(process.execPath, m.args, { stdio: ['ignore', 'inherit', 'inherit', 'pipe', 'pipe'], env: m.env });
  children.set(m.id, child);
  let exited = false;
  const exit = (code: number | null, signal: NodeJS.Signals | null): void => {
    if (exited) return;
    exited = true;
    children.delete(m.id);
    send({ t: 'exit', id: m.id, code, signal });
  };
  child.once('spawn', () => {
    // The node takes both pipes (socket pairs, as libuv makes them); this process keeps no copy.
    send({ t: 'spawned', id: m.id, pid: child.pid, fd: 3 }, child.stdio[3]);
    send({ t: 'spawned', id: m.id, pid: child.pid, fd: 4 }, child.stdio[4]);
  });
  child.once('error', () => exit(null, null));
  child.once('exit', exit);
}

process.on('message', (m: Spawn | Kill) => {
  if (m.t === 'spawn') start(m);
  else if (m.t === 'kill') children.get(m.id)?.kill(m.signal);
});
// The node is gone: its runners go too (they also exit when their pipes close).
process.on('disconnect', () => {
  for (const child of children.values()) child.kill('SIGKILL');
  process.exit(0);
});
