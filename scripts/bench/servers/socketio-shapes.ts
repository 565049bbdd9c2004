/**
 * A Socket.IO 4 node with @socket.io/redis-streams-adapter on BENCH_REDIS_URL (default adapter
 * options), speaking what shapes.ts needs. Each Tributary operation maps to its nearest Socket.IO
 * equivalent (BENCHMARKS.md "Traffic shapes" says the same):
 *
 * - subscribe to a channel → `socket.join(channel)`; unsubscribe → `socket.leave(channel)`;
 * - publish → `io.to(rooms).emit('m', channel, data)`, which the adapter forwards to the other node
 *   through one XADD on the Redis stream;
 * - a pattern (`sensors.>`) → a room named by the pattern. Socket.IO has no wildcards, so with
 *   BENCH_SIO_PATTERNS=1 a publish to `a.b.c` emits to the rooms `a.b.c`, `a.>`, `a.b.>` and `a.b.*`
 *   at once (what an application would hard-code: one emit, each socket gets it once). Rooms of
 *   patterns that never match (the idle ones) are never emitted to and cost nothing per publish;
 * - subscribe with presence → join, then `socket.to(room).emit('join', …)` to the other members
 *   on every node; leaving (or disconnecting) → leave, then `io.to(room).emit('leave', …)`;
 * - a presence query → `io.in(room).fetchSockets()`, which asks the other node through the stream
 *   and waits for its answer. Socket.IO stores no member list: presence is the live room.
 */
import { serveSocketIoNode, socketIoNode } from './socketio-node.js';

const PATTERNS = process.env.BENCH_SIO_PATTERNS === '1';
const node = socketIoNode();
const { io } = node;

/** The rooms a publish to `channel` reaches: itself, plus every pattern room that could match it. */
function roomsOf(channel: string): string | string[] {
  if (!PATTERNS) return channel;
  const segs = channel.split('.');
  const rooms = [channel];
  for (let i = 1; i < segs.length; i++) rooms.push(`${segs.slice(0, i).join('.')}.>`);
  if (segs.length > 1) rooms.push(`${segs.slice(0, -1).join('.')}.*`);
  return rooms;
}

/** Local members of `rooms` (a cross-check only; a socket in two of them is counted twice, which no shape does). */
function localMembers(rooms: string | string[]): number {
  const all = io.sockets.adapter.rooms;
  if (typeof rooms === 'string') return all.get(rooms)?.size ?? 0;
  let n = 0;
  for (const r of rooms) n += all.get(r)?.size ?? 0;
  return n;
}

let deliveries = 0;
io.on('connection', (socket) => {
  const presence = new Set<string>();
  socket.on('join', (room: string, withPresence: boolean, ack: () => void) => {
    void socket.join(room);
    if (withPresence) {
      presence.add(room);
      socket.to(room).emit('join', room, socket.id);
    }
    ack();
  });
  socket.on('leave', (room: string, ack: () => void) => {
    void socket.leave(room);
    if (presence.delete(room)) io.to(room).emit('leave', room, socket.id);
    ack();
  });
  socket.on('presence', (room: string, ack: (n: number) => void) => {
    io.in(room)
      .fetchSockets()
      .then(
        (s) => ack(s.length),
        () => ack(-1),
      );
  });
  socket.on('pub', (channel: string, data: unknown) => {
    const rooms = roomsOf(channel);
    // Local recipients only: the other node counts its own when the adapter delivers there.
    deliveries += localMembers(rooms);
    io.to(rooms).emit('m', channel, data);
  });
  socket.on('disconnecting', () => {
    for (const room of presence) socket.to(room).emit('leave', room, socket.id);
  });
});
await serveSocketIoNode(node, () => deliveries);
