import type { Socket } from 'node:net';

/**
 * Batches socket writes. Fan-out writes one frame to many sockets per message; written one by one,
 * each frame is its own writev system call, which profiles showed as most of the broker's CPU per
 * delivery. Two rules, both cork the socket on its first frame and uncork it once:
 *
 * - per turn: a socket's frames of one event-loop turn leave together, after the turn's I/O
 *   callbacks (setImmediate). Replies (acks, history, errors) always take this path.
 * - adaptive coalescing, opt-in (Nagle's rule with a clock instead of an ACK): a message frame for
 *   a socket that was written less than `coalesceMs` ago waits for the next tick of a shared
 *   `coalesceMs` grid, with whatever else arrives meanwhile. A socket receiving fewer than one
 *   message per `coalesceMs` never waits; a busy one is written about once per `coalesceMs`, so
 *   system calls per delivery fall as its rate rises. Per-turn batching only helps when a turn holds
 *   several messages for one socket; when messages reach a node one per turn (e.g. one Redis
 *   notification each, from many independent publishers), this is what batches them.
 *
 * Corked bytes still count in ws's bufferedAmount, so the slow-consumer bound is unchanged.
 */
export class Corker {
  readonly #coalesceMs: number;
  readonly #maxHeldBytes: number;
  /** Flushed after this turn. */
  #turn = new Set<Socket>();
  /** Flushed when the coalescing timer fires. */
  #later = new Set<Socket>();
  #timer: NodeJS.Timeout | undefined;
  readonly #lastWrite = new WeakMap<Socket, number>();

  /**
   * `coalesceMs` 0 turns adaptive coalescing off (per-turn batching only). A coalescing socket
   * holding `maxHeldBytes` is written after this turn instead: one write is worthwhile by then, and
   * holding more would only eat into the slow-consumer bound.
   */
  constructor(coalesceMs: number, maxHeldBytes = 64 * 1024) {
    this.#coalesceMs = coalesceMs;
    this.#maxHeldBytes = maxHeldBytes;
  }

  /**
   * Corks `socket` until its flush (idempotent until then). `coalesce` marks a message frame that
   * may wait for the socket's coalescing window; anything else is flushed after this turn, taking
   * the socket's waiting frames along.
   */
  hold(socket: Socket | undefined, coalesce: boolean): void {
    if (socket === undefined || socket.destroyed || this.#turn.has(socket)) return;
    if (this.#later.has(socket)) {
      if (coalesce && socket.writableLength < this.#maxHeldBytes) return;
      this.#later.delete(socket);
      this.#addTurn(socket);
      return;
    }
    socket.cork();
    const last = coalesce && this.#coalesceMs > 0 ? this.#lastWrite.get(socket) : undefined;
    const waited = last === undefined ? Infinity : performance.now() - last;
    if (waited >= this.#coalesceMs) {
      this.#addTurn(socket);
      return;
    }
    this.#later.add(socket);
    // One timer for every waiting socket, on a grid of coalesceMs: busy sockets are written
    // together, one wave per interval, and nobody waits longer than coalesceMs.
    this.#timer ??= setTimeout(
      () => {
        this.#timer = undefined;
        const due = this.#later;
        this.#later = new Set();
        this.#flush(due);
      },
      Math.max(1, Math.ceil(this.#coalesceMs - (performance.now() % this.#coalesceMs))),
    );
  }

  /** Uncorks every held socket now (before the broker cuts connections). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const all = new Set([...this.#turn, ...this.#later]);
    this.#turn = new Set();
    this.#later = new Set();
    this.#flush(all);
  }

  #addTurn(socket: Socket): void {
    if (this.#turn.size === 0) {
      setImmediate(() => {
        const due = this.#turn;
        this.#turn = new Set();
        this.#flush(due);
      });
    }
    this.#turn.add(socket);
  }

  #flush(sockets: Set<Socket>): void {
    const now = this.#coalesceMs > 0 ? performance.now() : 0;
    for (const s of sockets) {
      if (s.destroyed) continue;
      s.uncork();
      if (this.#coalesceMs > 0) this.#lastWrite.set(s, now);
    }
  }
}
