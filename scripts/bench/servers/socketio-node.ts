import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { serveParent } from '../lib/proc.js';

/**
 * A Socket.IO 4 node on @socket.io/redis-streams-adapter (default adapter options) at
 * BENCH_REDIS_URL, WebSocket transport only and no per-message deflate, as Tributary runs: what
 * every Socket.IO benchmark server starts from.
 */
export function socketIoNode(): { io: Server; http: HttpServer; redis: Redis } {
  const url = process.env.BENCH_REDIS_URL;
  if (url === undefined) throw new Error('BENCH_REDIS_URL is required');
  const redis = new Redis(url);
  const http = createServer();
  const io = new Server(http, { adapter: createAdapter(redis), transports: ['websocket'], serveClient: false, perMessageDeflate: false });
  return { io, http, redis };
}

/** Listens on a free loopback port and answers the benchmark parent (deliveries so far, stop). */
export async function serveSocketIoNode(node: { io: Server; http: HttpServer; redis: Redis }, deliveries: () => number): Promise<void> {
  await new Promise<void>((resolve) => node.http.listen(0, '127.0.0.1', resolve));
  serveParent((node.http.address() as AddressInfo).port, deliveries, async () => {
    await node.io.close();
    node.redis.disconnect();
  });
}
