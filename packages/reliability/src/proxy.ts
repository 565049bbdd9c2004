import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of Redis that can make the engine's pub/sub connection silently dead: after
 * {@link FaultProxy.freezeSubscribers}, bytes on every connection that has sent a SUBSCRIBE or
 * PSUBSCRIBE are dropped in both directions while both TCP connections stay open — what a NAT or
 * failover that forgets a connection looks like. New connections pass through normally.
 */
export interface FaultProxy {
  url: string;
  freezeSubscribers(): number;
  /** Freezes every connection open now (commands and pub/sub); returns how many. */
  freezeAll(): number;
  close(): Promise<void>;
}

export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket; subscriber: boolean; frozen: boolean }>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    const pair = { client, upstream, subscriber: false, frozen: false };
    pairs.add(pair);
    client.on('data', (d: Buffer) => {
      // The command itself (a RESP bulk string), not the word anywhere: a Lua script's comment
      // may say "subscriber".
      if (/\$(9|10)\r\np?subscribe\r\n/i.test(d.toString('latin1'))) pair.subscriber = true;
      if (!pair.frozen) upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (!pair.frozen) client.write(d);
    });
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `redis://127.0.0.1:${port}`,
    freezeSubscribers() {
      let n = 0;
      for (const p of pairs) if (p.subscriber && !p.frozen) (p.frozen = true), n++;
      return n;
    },
    freezeAll() {
      let n = 0;
      for (const p of pairs) if (!p.frozen) (p.frozen = true), n++;
      return n;
    },
    async close() {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
