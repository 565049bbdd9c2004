/**
 * The limit: a single-process `ws` broadcast server with no storage, no auth, no validation beyond
 * JSON.parse. `{"sub":ch}` joins a room (answered `{"subscribed":ch}`); `{"pub":ch,"data":…}`
 * encodes one frame and writes the same bytes to every socket in the room.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { serveParent } from '../lib/proc.js';

const rooms = new Map<string, Set<WebSocket>>();
/**
 * BENCH_CORK=1 (an experiment, not part of `pnpm bench`): cork each socket on its first send of an
 * event-loop turn and uncork on setImmediate, so frames for one socket in one turn go out in one
 * write instead of one syscall each.
 */
const CORK = process.env.BENCH_CORK === '1';
const corked = new Set<WebSocket>();
function cork(ws: WebSocket): void {
  if (corked.has(ws)) return;
  const sock = (ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
  sock.cork();
  if (corked.size === 0) setImmediate(flush);
  corked.add(ws);
}
function flush(): void {
  for (const ws of corked) (ws as unknown as { _socket: { uncork(): void } })._socket.uncork();
  corked.clear();
}
let deliveries = 0;
const http = createServer();
const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
wss.on('connection', (ws) => {
  const mine = new Set<string>();
  ws.on('message', (raw) => {
    const m = JSON.parse(String(raw)) as { sub?: string; pub?: string; data?: unknown };
    if (m.sub !== undefined) {
      let room = rooms.get(m.sub);
      if (room === undefined) rooms.set(m.sub, (room = new Set()));
      room.add(ws);
      mine.add(m.sub);
      ws.send(JSON.stringify({ subscribed: m.sub }));
    } else if (m.pub !== undefined) {
      const room = rooms.get(m.pub);
      if (room === undefined) return;
      const frame = Buffer.from(JSON.stringify({ c: m.pub, d: m.data }));
      for (const s of room) {
        if (CORK) cork(s);
        s.send(frame, { binary: false });
      }
      deliveries += room.size;
    }
  });
  ws.on('close', () => {
    for (const ch of mine) rooms.get(ch)?.delete(ws);
  });
});
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
serveParent(
  (http.address() as AddressInfo).port,
  () => deliveries,
  async () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    http.close();
  },
);
