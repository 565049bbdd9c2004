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
  readonly #delayMs: number;

  /**
   * `delayMs` 0 flushes after the current turn; more holds writes that long, so a socket receiving
   * messages one per turn (e.g. one Redis notification each) still sends several per write — fewer
   * system calls per delivery for up to `delayMs` more latency.
   */
  constructor(delayMs = 0) {
    this.#delayMs = delayMs;
  }

  /** Corks `socket` until the flush (idempotent until then). */
  hold(socket: Socket | undefined): void {
    if (socket === undefined || this.#held.has(socket) || socket.destroyed) return;
    if (this.#held.size === 0) {
      if (this.#delayMs > 0) setTimeout(() => this.flush(), this.#delayMs);
      else setImmediate(() => this.flush());
    }
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
