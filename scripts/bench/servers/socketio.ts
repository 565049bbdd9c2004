/**
 * A Socket.IO 4 node with @socket.io/redis-streams-adapter on BENCH_REDIS_URL (default adapter
 * options). Clients `join` a room per channel; `pub` is re-emitted with io.to(room).emit, which the
 * adapter forwards to the other nodes through the Redis stream.
 */
import { serveSocketIoNode, socketIoNode } from './socketio-node.js';

const node = socketIoNode();
const { io } = node;
let deliveries = 0;
io.on('connection', (socket) => {
  socket.on('join', (room: string, ack: () => void) => {
    void socket.join(room);
    ack();
  });
  socket.on('pub', (room: string, data: unknown) => {
    // Local recipients only: the other node counts its own when the adapter delivers there.
    deliveries += io.sockets.adapter.rooms.get(room)?.size ?? 0;
    io.to(room).emit('m', room, data);
  });
});
await serveSocketIoNode(node, () => deliveries);
