import type { Socket } from 'node:net';

/**
 * Batches socket writes per event-loop turn. Fan-out writes one frame to many sockets per message
 * and often several messages per turn; written one by one, each frame is its own writev system call,
 * which profiles showed as most of the broker's CPU per delivery. A socket written to in this turn
 * is corked on its first write and uncorked once, after the turn's I/O callbacks (setImmediate), so
 * its frames leave in one writev. Corked bytes still count in ws's bufferedAmount, so the
 * slow-consumer bound is unchanged.
 */
export class Corker {
  #held = new Set<Socket>();

  /** Corks `socket` until the end of this event-loop turn (idempotent within a turn). */
  hold(socket: Socket | undefined): void {
    if (socket === undefined || this.#held.has(socket) || socket.destroyed) return;
    if (this.#held.size === 0) setImmediate(() => this.flush());
    socket.cork();
    this.#held.add(socket);
  }

  /** Uncorks every held socket now. */
  flush(): void {
    const held = this.#held;
    this.#held = new Set();
    for (const s of held) if (!s.destroyed) s.uncork();
  }
}
