import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/** How the broker tells a live peer from a vanished or stalling one. */
export interface LivenessOptions {
  /** A WebSocket ping is sent this often, ms. */
  pingIntervalMs: number;
  /** A ping not answered by a pong within this long closes the connection, ms. */
  pongTimeoutMs: number;
  /** A frame whose first byte arrived must be complete within this long, ms. */
  frameTimeoutMs: number;
}

/** Why {@link watchLiveness} gave up on a connection. */
export type DeadReason = 'pong timeout' | 'frame timeout' | 'stalled';

/**
 * Watches one WebSocket from the moment it is upgraded (before its credentials are checked) until it
 * closes, and terminates it when the peer is gone or stalls:
 * - a server ping every `pingIntervalMs`, carrying a fresh nonce, that must be answered by a pong
 *   echoing it within `pongTimeoutMs` (a peer whose network vanished sends no FIN, and TCP alone
 *   would keep it, and its presence, for hours; an unsolicited pong proves nothing). The deadline
 *   starts when the ping has left the broker's queue, not when it joined it, and is pushed back
 *   while the peer keeps reading: a reader working through a long backlog is not cut for a ping
 *   it has not reached yet;
 * - a ping still unsent a whole interval later, with the queue ahead of it not shrinking, means a
 *   peer that reads nothing: 'stalled';
 * - TCP keepalive, so the kernel also notices a dead path between pings;
 * - a deadline for finishing a started frame: frames dribbled a byte at a time, or held one byte
 *   short of complete, would otherwise pin up to the frame cap of memory per connection forever.
 *
 * While the broker itself has stopped reading the socket (back-pressure), neither deadline runs
 * out: the peer's pong or frame may be waiting unread. Termination closes the socket without a
 * close handshake; the 'close' event then releases the session as for any other close.
 */
export function watchLiveness(ws: WebSocket, opts: LivenessOptions, onDead: (reason: DeadReason) => void): void {
  const socket = socketOf(ws);
  socket?.setKeepAlive(true, Math.max(1000, opts.pingIntervalMs));
  /** The nonce of the ping awaiting its pong. */
  let nonce: Buffer | undefined;
  let flushed = false;
  let pongDue: NodeJS.Timeout | undefined;
  let frameDue: NodeJS.Timeout | undefined;
  const die = (reason: DeadReason): void => {
    stop();
    onDead(reason);
    ws.terminate();
  };
  /**
   * Bytes of ours the kernel has taken so far. It grows only while the peer reads: a peer still
   * working through a backlog (its pong queued behind a long replay) is alive.
   */
  const accepted = (): number => (socket === undefined ? 0 : socket.bytesWritten - socket.writableLength);
  let progressAt = Date.now();
  let acceptedMark = accepted();
  /** True while the peer took some of our bytes within the last ping interval + pong timeout. */
  const reading = (): boolean => {
    const now = accepted();
    if (now > acceptedMark) {
      acceptedMark = now;
      progressAt = Date.now();
    }
    return Date.now() - progressAt < opts.pingIntervalMs + opts.pongTimeoutMs;
  };
  /**
   * A timer for `fn` after `ms`, pushed back while the broker is not reading the socket, and (with
   * `behindBacklog`) while bytes of ours still wait for a peer that keeps reading them.
   */
  const deadline = (ms: number, fn: () => void, behindBacklog = false): NodeJS.Timeout => {
    const t = setTimeout(() => {
      if (ws.isPaused || (behindBacklog && ws.bufferedAmount > 0 && reading())) return void t.refresh();
      fn();
    }, ms);
    t.unref();
    return t;
  };
  const ping = setInterval(() => {
    if (ws.readyState !== 1) return;
    if (nonce !== undefined) {
      // The last ping has not even left our queue: the peer reads nothing, unless the kernel
      // took some of our bytes lately.
      if (!flushed && !ws.isPaused && !reading()) die('stalled');
      return;
    }
    const sent = randomBytes(8);
    nonce = sent;
    flushed = false;
    reading();
    ws.ping(sent, undefined, (err) => {
      if (err !== undefined && err !== null) return;
      if (nonce !== sent) return;
      flushed = true;
      pongDue = deadline(opts.pongTimeoutMs, () => die('pong timeout'), true);
    });
  }, opts.pingIntervalMs);
  ping.unref();
  const onPong = (data: Buffer): void => {
    if (nonce === undefined || !data.equals(nonce)) return;
    nonce = undefined;
    clearTimeout(pongDue);
    pongDue = undefined;
  };
  // A frame completed (ws emits these as it parses): the deadline is for the next one, if begun.
  const onFrame = (): void => {
    clearTimeout(frameDue);
    frameDue = undefined;
  };
  // Runs after ws's own 'data' listener (added when the socket was handed to it), so the receiver
  // has already taken every complete frame out of this chunk.
  const onData = (): void => {
    if (!frameInProgress(ws)) onFrame();
    else frameDue ??= deadline(opts.frameTimeoutMs, () => die('frame timeout'));
  };
  const stop = (): void => {
    clearInterval(ping);
    clearTimeout(pongDue);
    clearTimeout(frameDue);
    ws.off('pong', onPong);
    ws.off('pong', onFrame);
    ws.off('ping', onFrame);
    ws.off('message', onFrame);
    socket?.off('data', onData);
  };
  ws.on('pong', onPong);
  ws.on('pong', onFrame);
  ws.on('ping', onFrame);
  ws.on('message', onFrame);
  socket?.on('data', onData);
  ws.once('close', stop);
}

/** ws keeps its net.Socket private. */
export function socketOf(ws: WebSocket): Socket | undefined {
  return (ws as unknown as { _socket?: Socket })._socket;
}

interface ReceiverState {
  _bufferedBytes?: number;
  _fragments?: unknown[];
}

/**
 * True while the peer has sent part of a frame (bytes the receiver holds, or fragments of a message
 * whose final frame has not come). ws has no public API for this; these two fields of its Receiver
 * have been stable through ws 8, and `liveness.int.test.ts` fails if an upgrade changes them.
 */
function frameInProgress(ws: WebSocket): boolean {
  const r = (ws as unknown as { _receiver?: ReceiverState })._receiver;
  if (r === undefined) return false;
  return (r._bufferedBytes ?? 0) > 0 || (r._fragments?.length ?? 0) > 0;
}
