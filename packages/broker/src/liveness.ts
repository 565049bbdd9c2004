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
export type DeadReason = 'pong timeout' | 'frame timeout';

/**
 * Watches one WebSocket from the moment it is upgraded (before its credentials are checked) until it
 * closes, and terminates it when the peer is gone or stalls:
 * - a server ping every `pingIntervalMs` that must be answered within `pongTimeoutMs` (a peer whose
 *   network vanished sends no FIN, and TCP alone would keep it, and its presence, for hours);
 * - TCP keepalive, so the kernel also notices a dead path between pings;
 * - a deadline for finishing a started frame: frames dribbled a byte at a time, or held one byte
 *   short of complete, would otherwise pin up to the frame cap of memory per connection forever.
 *
 * Termination closes the socket without a close handshake: a peer that does not answer pings would
 * not answer that either. The 'close' event then releases the session as for any other close.
 */
export function watchLiveness(ws: WebSocket, opts: LivenessOptions, onDead: (reason: DeadReason) => void): void {
  const socket = socketOf(ws);
  socket?.setKeepAlive(true, Math.max(1000, opts.pingIntervalMs));
  let pongDue: NodeJS.Timeout | undefined;
  let frameDue: NodeJS.Timeout | undefined;
  const die = (reason: DeadReason): void => {
    stop();
    onDead(reason);
    ws.terminate();
  };
  const ping = setInterval(() => {
    if (pongDue !== undefined || ws.readyState !== 1) return;
    pongDue = setTimeout(() => die('pong timeout'), opts.pongTimeoutMs);
    pongDue.unref();
    ws.ping();
  }, opts.pingIntervalMs);
  ping.unref();
  const onPong = (): void => {
    clearTimeout(pongDue);
    pongDue = undefined;
  };
  // Runs after ws's own 'data' listener (added when the socket was handed to it), so the receiver
  // has already taken every complete frame out of this chunk.
  const onData = (): void => {
    if (!frameInProgress(ws)) {
      clearTimeout(frameDue);
      frameDue = undefined;
    } else if (frameDue === undefined) {
      armFrameDeadline();
    }
  };
  const armFrameDeadline = (): void => {
    frameDue = setTimeout(() => {
      // Paused by the broker (backpressure), the peer is not the one stalling: wait on.
      if (ws.isPaused) armFrameDeadline();
      else die('frame timeout');
    }, opts.frameTimeoutMs);
    frameDue.unref();
  };
  const stop = (): void => {
    clearInterval(ping);
    clearTimeout(pongDue);
    clearTimeout(frameDue);
    ws.off('pong', onPong);
    socket?.off('data', onData);
  };
  ws.on('pong', onPong);
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
