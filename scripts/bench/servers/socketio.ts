/**
 * A Socket.IO 4 node with @socket.io/redis-streams-adapter on BENCH_REDIS_URL (default adapter
 * options). Clients `join` a room per channel; `pub` is re-emitted with io.to(room).emit, which the
 * adapter forwards to the other nodes through the Redis stream.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { serveParent } from '../lib/proc.js';

const url = process.env.BENCH_REDIS_URL;
if (url === undefined) throw new Error('BENCH_REDIS_URL is required');
const redis = new Redis(url);
const http = createServer();
const io = new Server(http, {
  adapter: createAdapter(redis),
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
});
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
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
serveParent(
  (http.address() as AddressInfo).port,
  () => deliveries,
  async () => {
    await io.close();
    redis.disconnect();
  },
);
