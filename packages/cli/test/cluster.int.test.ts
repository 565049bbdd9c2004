import { TributaryClient, type Message } from '@tributary/client';
import { DEFAULT_KEY_PREFIX } from '@tributary/engine/redis';
import { eventually, startRedisCluster, type RedisCluster } from '@tributary/testkit';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, startCli, type Running } from './cli.js';

let cluster: RedisCluster;
const procs: Running[] = [];
const clients: TributaryClient[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
});
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await Promise.allSettled(procs.map((p) => p.stop('SIGKILL')));
  await cluster?.stop();
});

const seeds = (nodes: RedisCluster['nodes']): string => nodes.map((n) => `${n.host}:${n.port}`).join(',');

async function node(args: string[], env: Record<string, string> = {}): Promise<{ url: string; line: string }> {
  const n = await startCli(['--insecure', '--blocks', '/nonexistent', '--log-level', 'warn', ...args], env);
  procs.push(n.proc);
  return { url: n.url, line: n.proc.lines[0] ?? '' };
}

function client(url: string): TributaryClient {
  const c = new TributaryClient({ url, reconnect: { minDelayMs: 50, maxDelayMs: 200 } });
  clients.push(c);
  return c;
}

describe('tributary start on a Redis Cluster', () => {
  it('delivers what node A stores to exact and pattern subscribers on node B, through sharded pub/sub', async () => {
    // A gets two seed nodes by flag, B one by environment variable: both discover the rest.
    const a = await node(['--redis-cluster', seeds(cluster.nodes.slice(0, 2))]);
    const b = await node([], { TRIBUTARY_REDIS_URL: '', TRIBUTARY_REDIS_CLUSTER: seeds(cluster.nodes.slice(2)) });
    expect(a.line).toContain('engine redis');
    expect(b.line).toContain('engine redis');

    const subscriber = client(b.url);
    await subscriber.connect();
    const orders: Message[] = [];
    const sensors: Message[] = [];
    await subscriber.subscribe('orders.eu', (m) => void orders.push(m));
    await subscriber.subscribe('sensors.>', (m) => void sensors.push(m));

    const publisher = client(a.url);
    await publisher.connect();
    const total = 30;
    for (let i = 1; i <= total; i++) {
      await publisher.publish('orders.eu', { i });
      await publisher.publish(`sensors.t${i % 3}.temp`, { i });
    }
    await eventually(() => orders.length === total && sensors.length === total, {
      timeoutMs: 15_000,
      message: () => `all messages on node B (orders ${orders.length}, sensors ${sensors.length} of ${total})`,
    });
    expect(orders.map((m) => (m.data as { i: number }).i)).toEqual(Array.from({ length: total }, (_, k) => k + 1));
    expect(orders.map((m) => m.offset)).toEqual(Array.from({ length: total }, (_, k) => k + 1));
    for (let t = 0; t < 3; t++) {
      const got = sensors.filter((m) => m.channel === `sensors.t${t}.temp`).map((m) => (m.data as { i: number }).i);
      expect(got).toEqual(Array.from({ length: total }, (_, k) => k + 1).filter((i) => i % 3 === t));
    }
    expect(sensors.every((m) => m.pattern === 'sensors.>')).toBe(true);

    // Node B holds the channel's sharded topic on exactly one master: the one that stores it.
    const topic = `${DEFAULT_KEY_PREFIX}{orders.eu}:n`;
    const holders = await Promise.all(cluster.nodes.map((n) => inline(n, `PUBSUB SHARDCHANNELS ${topic}`)));
    expect(holders.filter((reply) => reply.includes(topic))).toHaveLength(1);
  });

  it('refuses a malformed seed list, or a server and a cluster at once, with a usage error', async () => {
    const noRedisEnv = { TRIBUTARY_REDIS_URL: '', TRIBUTARY_REDIS_CLUSTER: '' };
    const badFlag = await run(['start', '--insecure', '--redis-cluster', `${seeds(cluster.nodes)},localhost`], noRedisEnv);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain('--redis-cluster: "localhost" is not host:port');

    const badEnv = await run(['start', '--insecure'], { ...noRedisEnv, TRIBUTARY_REDIS_CLUSTER: '127.0.0.1:99999' });
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toContain('TRIBUTARY_REDIS_CLUSTER: "127.0.0.1:99999" is not host:port');

    const both = await run(['start', '--insecure', '--redis', 'redis://127.0.0.1:1', '--redis-cluster', seeds(cluster.nodes)], noRedisEnv);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('not both');
  });
});

/** One Redis inline command's raw reply (the CLI package has no Redis client of its own). */
function inline(node: { host: string; port: number }, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(node.port, node.host);
    let reply = '';
    socket.on('data', (d: Buffer) => (reply += d.toString()));
    socket.on('end', () => resolve(reply));
    socket.on('error', reject);
    socket.end(`${command}\r\nQUIT\r\n`);
  });
}
