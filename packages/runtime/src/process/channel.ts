import { Socket } from 'node:net';

/**
 * The wire between a node and a runner process: two pipes (fd 3 node → runner, fd 4 runner → node)
 * carrying frames of a 4-byte big-endian length and that many bytes of JSON, one message per frame.
 *
 * Why not Node's built-in IPC channel: it reads a message until its newline with no size bound, and
 * hands the node whatever JSON arrives. The runner hosts code that is hostile by assumption; if that
 * code ever escaped isolated-vm, the runner could send a gigabyte-long line and the node would buffer
 * it. Here the node reads a frame's length first and refuses one over its cap before reading it.
 */

/** The runner's end: it reads the node's frames from fd 3 and writes its own to fd 4. */
export const NODE_TO_RUNNER_FD = 3;
export const RUNNER_TO_NODE_FD = 4;

const HEADER_BYTES = 4;

/**
 * Frames for `messages`, one per message, as one buffer: a turn's messages cost one write. A
 * message whose JSON is over `maxBytes` is replaced by what `tooLarge` makes of it.
 */
export function encodeFrames<T>(
  messages: readonly T[],
  maxBytes = Number.POSITIVE_INFINITY,
  tooLarge?: (message: T, bytes: number) => T,
): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  for (const m of messages) {
    let body = Buffer.from(JSON.stringify(m), 'utf8');
    if (body.length > maxBytes && tooLarge !== undefined) body = Buffer.from(JSON.stringify(tooLarge(m, body.length)), 'utf8');
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    header.writeUInt32BE(body.length, 0);
    parts.push(header, body);
    total += HEADER_BYTES + body.length;
  }
  return Buffer.concat(parts, total);
}

/** Why a peer's bytes were refused: the reader stops at the first one and reads nothing more. */
export class FrameError extends Error {}

/**
 * Cuts a byte stream into frames and parses each. A frame whose declared length is over `maxBytes`
 * is refused from its header alone, so a peer cannot make this side buffer more than `maxBytes`
 * (plus one chunk); after the first error the reader ignores everything.
 */
export class FrameReader {
  readonly #maxBytes: number;
  readonly #onMessage: (message: unknown) => void;
  readonly #onError: (err: FrameError) => void;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #need = -1;
  #failed = false;

  constructor(maxBytes: number, onMessage: (message: unknown) => void, onError: (err: FrameError) => void) {
    this.#maxBytes = maxBytes;
    this.#onMessage = onMessage;
    this.#onError = onError;
  }

  push(chunk: Buffer): void {
    if (this.#failed) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < HEADER_BYTES) return;
        const length = this.#take(HEADER_BYTES).readUInt32BE(0);
        if (length > this.#maxBytes) {
          this.#fail(`a frame of ${length} bytes, over the ${this.#maxBytes}-byte cap`);
          return;
        }
        this.#need = length;
      }
      if (this.#buffered < this.#need) return;
      const body = this.#take(this.#need);
      this.#need = -1;
      let message: unknown;
      try {
        message = JSON.parse(body.toString('utf8'));
      } catch {
        this.#fail('a frame that is not JSON');
        return;
      }
      this.#onMessage(message);
      if (this.#failed) return;
    }
  }

  /** Stops reading (the caller found a message it refuses). */
  stop(): void {
    this.#failed = true;
    this.#chunks = [];
    this.#buffered = 0;
  }

  #fail(reason: string): void {
    this.stop();
    this.#onError(new FrameError(reason));
  }

  /** The first `n` buffered bytes, removed from the buffer. */
  #take(n: number): Buffer {
    let head = this.#chunks[0] as Buffer;
    if (head.length < n) {
      head = Buffer.concat(this.#chunks, this.#buffered);
      this.#chunks = [head];
    }
    const out = head.subarray(0, n);
    if (head.length === n) this.#chunks.shift();
    else this.#chunks[0] = head.subarray(n);
    this.#buffered -= n;
    return out;
  }
}

/** The runner's two pipes, opened from its inherited file descriptors. */
export function runnerPipes(): { input: Socket; output: Socket } {
  return {
    input: new Socket({ fd: NODE_TO_RUNNER_FD, readable: true, writable: false }),
    output: new Socket({ fd: RUNNER_TO_NODE_FD, readable: false, writable: true }),
  };
}

/**
 * Keeps this process's event loop polling instead of sleeping for a while after each message, so
 * the other side's answer is read the moment it arrives. A process asleep in epoll_wait is woken
 * by the kernel, and on a virtualized machine an idle vCPU by the hypervisor: measured here, that
 * wake-up is most of a warm invocation's cost through a runner (130 µs of round trip, 45 µs with
 * both sides polling). Polling is setImmediate turns: other I/O and timers keep running, but the
 * process uses its core meanwhile — so it is off unless asked for (`runners.busyPollUs`).
 */
export class BusyPoll {
  readonly #ms: number;
  readonly #while: () => boolean;
  #since = 0;
  #polling = false;

  /** `us`: how long to poll after the last {@link touch}; `whilst`: and only while this holds. */
  constructor(us: number, whilst: () => boolean = () => true) {
    this.#ms = us / 1000;
    this.#while = whilst;
  }

  /** A message went out or came in: poll for the next `us`. */
  touch(): void {
    if (this.#ms <= 0) return;
    this.#since = performance.now();
    if (this.#polling) return;
    this.#polling = true;
    setImmediate(this.#turn);
  }

  readonly #turn = (): void => {
    if (this.#while() && performance.now() - this.#since < this.#ms) setImmediate(this.#turn);
    else this.#polling = false;
  };
}
