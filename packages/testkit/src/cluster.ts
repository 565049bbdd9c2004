import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { assertRedisServerInstalled, killAndWait, spawnRedis } from './redis.js';

/** A Redis Cluster started for a test. */
export interface RedisCluster {
  /** Every master, as ioredis' Cluster wants its seed nodes. */
  nodes: Array<{ host: string; port: number }>;
  /** redis://127.0.0.1:<port> of every master. */
  urls: string[];
  /** The processes, for fault tests. */
  processes: ChildProcess[];
  /** Stops every node and deletes their directory. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startRedisCluster}. */
export interface StartRedisClusterOptions {
  /**
   * Number of masters (no replicas); the 16384 slots are split evenly between them.
   * @defaultValue 3
   */
  masters?: number;
}

const SLOTS = 16384;
const READY_TIMEOUT_MS = 20_000;

/**
 * Spawns `masters` redis-server processes in cluster mode on free loopback ports (client and bus
 * port both chosen free, so parallel test files never collide), splits the slots between them with
 * CLUSTER ADDSLOTSRANGE, joins them with CLUSTER MEET, and waits until every node reports
 * cluster_state:ok and knows all the others.
 */
export async function startRedisCluster(options: StartRedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  if (!Number.isSafeInteger(masters) || masters < 1) throw new TypeError(`masters must be a positive integer, got ${masters}`);
  assertRedisServerInstalled();
  const dir = await mkdtemp(join(tmpdir(), 'tributary-cluster-'));
  const processes: ChildProcess[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(processes.map((p) => killAndWait(p)));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const ports = await distinctFreePorts(masters * 2);
    const nodes: Array<{ host: string; port: number; bus: number }> = [];
    for (let i = 0; i < masters; i++) {
      const port = ports[2 * i] as number;
      const bus = ports[2 * i + 1] as number;
      const args = [
        '--port',
        String(port),
        '--cluster-port',
        String(bus),
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        '5000',
        '--bind',
        '127.0.0.1',
        '--protected-mode',
        'no',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ];
      processes.push(await spawnRedis(args, port));
      nodes.push({ host: '127.0.0.1', port, bus });
    }
    await withClients(nodes, async (clients) => {
      for (let i = 0; i < masters; i++) {
        const c = clients[i] as Redis;
        const from = Math.floor((i * SLOTS) / masters);
        const to = Math.floor(((i + 1) * SLOTS) / masters) - 1;
        // Distinct config epochs up front, as redis-cli does, so no epoch collision has to be resolved.
        await c.call('CLUSTER', 'SET-CONFIG-EPOCH', String(i + 1));
        await c.call('CLUSTER', 'ADDSLOTSRANGE', String(from), String(to));
      }
      const first = clients[0] as Redis;
      for (const n of nodes.slice(1)) await first.call('CLUSTER', 'MEET', n.host, String(n.port), String(n.bus));
      await waitClusterOk(clients, masters);
    });
    return {
      nodes: nodes.map(({ host, port }) => ({ host, port })),
      urls: nodes.map((n) => `redis://${n.host}:${n.port}`),
      processes,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitClusterOk(clients: Redis[], masters: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    const infos = await Promise.all(clients.map((c) => c.call('CLUSTER', 'INFO') as Promise<string>));
    const ok = infos.every((info) => /cluster_state:ok/.test(info) && new RegExp(`cluster_known_nodes:${masters}\\b`).test(info));
    if (ok) return;
    last = infos.join('\n---\n');
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Redis Cluster did not reach cluster_state:ok within ${READY_TIMEOUT_MS} ms:\n${last}`);
}

async function withClients<T>(nodes: Array<{ host: string; port: number }>, fn: (c: Redis[]) => Promise<T>): Promise<T> {
  const clients = nodes.map((n) => new Redis({ host: n.host, port: n.port, lazyConnect: true, maxRetriesPerRequest: 1 }));
  try {
    await Promise.all(clients.map((c) => c.connect()));
    return await fn(clients);
  } finally {
    for (const c of clients) c.disconnect();
  }
}

/** `n` different free ports (freePort alone may hand out the same port twice in a row). */
async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}
