/**
 * Fan-out benchmark: 1000 subscribers on 10 channels (100 per channel), 200-byte JSON messages.
 * The same load generator drives every system through a {@link BenchSystem} adapter:
 *
 * - saturation: a closed loop with a bounded window (at most WINDOW messages per channel not yet
 *   delivered to all of its subscribers), so the systems run flat out without unbounded queues;
 *   every system is deployed first and measured in interleaved rounds, so background load on a
 *   shared machine falls on all of them alike;
 * - latency: an open loop at a fixed, moderate rate, identical for every system.
 *
 * End-to-end latency: the publisher writes performance.now() into the message and the subscriber,
 * in the same process, subtracts it on receipt. Server CPU per delivery: utime+stime of the server
 * processes (/proc/<pid>/stat) over the measured window divided by the deliveries counted by the
 * subscribers in that window; Redis's own CPU is reported beside it.
 *
 * Run alone: node --import tsx scripts/bench/fanout.ts
 */
import { pathToFileURL } from 'node:url';
// The file, not the package index: the index pulls in every test helper (and their dependencies).
import { startRedis, type RedisServer } from '../../packages/testkit/src/redis.js';
import { Histogram } from './lib/hist.js';
import { machineLoad } from './lib/machine.js';
import { cpuSeconds, cpuTime, machineBusySeconds, sleep, spawnServer, type ServerChild } from './lib/proc.js';
import { rawWs, socketIo, tributary, type BenchConnection, type BenchSystem, type Payload } from './lib/systems.js';

/** Parameters of the fan-out benchmark (the same for every system). */
export const FANOUT = {
  subscribers: 1000,
  channels: 10,
  payloadBytes: 200,
  /** Closed loop: messages per channel published but not yet delivered to every subscriber. */
  window: Number(process.env.BENCH_WINDOW ?? 8),
  /** Unmeasured closed-loop time before a system's first saturation round, and before each later one. */
  warmupMs: 2000,
  roundWarmupMs: 500,
  /** Measured saturation time per system, split into `rounds` interleaved windows. */
  measureMs: 10_000,
  rounds: 5,
  /** Open loop for latency: messages/s over all channels (× 100 subscribers = deliveries/s). */
  fixedRate: 200,
  fixedLeadMs: 1000,
  fixedMs: 5000,
  /** A message not delivered to all of its subscribers within this is counted lost. */
  lostAfterMs: 3000,
} as const;

/** What one measured window produced. */
export interface PhaseResult {
  seconds: number;
  published: number;
  /** Deliveries counted by the subscribers. */
  deliveries: number;
  deliveriesPerSec: number;
  /** Deliveries the servers say they wrote (cross-check; undefined when a server cannot tell). */
  serverDeliveries: number;
  latencyUs: { p50: number; p99: number; max: number; count: number };
  serverCpuSec: number;
  serverCpuUsPerDelivery: number;
  /** The same split into user space and kernel (on loopback the sender's kernel time includes the receiving side's TCP work). */
  serverUserUsPerDelivery: number;
  serverSysUsPerDelivery: number;
  redisCpuSec: number | undefined;
  redisCpuUsPerDelivery: number | undefined;
  /** CPU the load generator itself used (it shares the 2 cores). */
  loadgenCpuSec: number;
  /** CPU other processes on the machine used meanwhile (noise: the machine is shared). */
  otherCpuSec: number;
  /** Deliveries still missing when a message was given up on. */
  lost: number;
}

/** One system's fan-out result. */
export interface FanoutResult {
  name: string;
  topology: string;
  saturation?: PhaseResult;
  fixed?: PhaseResult;
  /** Cores other processes were using just before this system started (the machine is shared). */
  machineLoadBefore?: number;
  /** Why this system was not run or failed. */
  skipped?: string;
}

/** A running system: its server processes and where the load generator connects. */
interface Deployment {
  system: BenchSystem;
  topology: string;
  nodes: ServerChild[];
  urls: string[];
  redis: RedisServer | undefined;
  stop(): Promise<void>;
}

interface Tracked {
  remaining: number;
  sentAt: number;
  channel: number;
}

interface Snapshot {
  at: number;
  published: number;
  delivered: number;
  lost: number;
  serverCpu: number;
  serverUser: number;
  serverSys: number;
  machineBusy: number;
  redisCpu: number | undefined;
  loadgenCpu: number;
  serverDeliveries: number;
}

const PAD = 'x'.repeat(FANOUT.payloadBytes);
const channelName = (c: number): string => `bench.ch${c}`;

/** A payload whose JSON is exactly FANOUT.payloadBytes long. */
function payload(seq: number): Payload {
  const t = Math.round(performance.now() * 1000);
  const bare = `{"t":${t},"s":${seq},"pad":""}`.length;
  return { t, s: seq, pad: PAD.slice(0, FANOUT.payloadBytes - bare) };
}

type Kind = 'rawws' | 'rawws-cork' | 'tributary-memory' | 'tributary-redis' | 'tributary-redis-coalesce' | 'socketio';

async function deploy(kind: Kind): Promise<Deployment> {
  const nodes: ServerChild[] = [];
  let redis: RedisServer | undefined;
  const stop = async (): Promise<void> => {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    await redis?.stop();
  };
  try {
    let system: BenchSystem;
    let topology: string;
    if (kind === 'rawws') {
      nodes.push(await spawnServer('rawws.ts', {}));
      system = rawWs('raw ws broadcast (the limit)');
      topology = '1 process, no storage';
    } else if (kind === 'rawws-cork') {
      nodes.push(await spawnServer('rawws.ts', { BENCH_CORK: '1' }));
      system = rawWs('experiment: raw ws + per-turn write coalescing');
      topology = '1 process, no storage';
    } else if (kind === 'tributary-memory') {
      nodes.push(await spawnServer('tributary.ts', { BENCH_ENGINE: 'memory' }));
      system = tributary('Tributary, MemoryEngine');
      topology = '1 node, in-memory engine';
    } else {
      // Each Redis-backed system gets a fresh redis-server so nothing left by another skews it.
      redis = await startRedis({ honourEnv: false });
      const env = { BENCH_REDIS_URL: redis.url };
      const file = kind === 'socketio' ? 'socketio.ts' : 'tributary.ts';
      const extra: Record<string, string> = kind === 'socketio' ? {} : { BENCH_ENGINE: 'redis' };
      if (kind === 'tributary-redis-coalesce') extra.BENCH_COALESCE_MS = '10';
      for (const id of ['A', 'B']) nodes.push(await spawnServer(file, { ...env, ...extra, BENCH_NODE_ID: id }));
      system =
        kind === 'socketio'
          ? socketIo('Socket.IO 4 + redis-streams-adapter')
          : tributary(kind === 'tributary-redis-coalesce' ? 'Tributary, RedisEngine, writeCoalesceMs 10' : 'Tributary, RedisEngine');
      topology = '2 nodes on 1 Redis';
    }
    const scheme = kind === 'socketio' ? 'http' : 'ws';
    if (process.env.BENCH_NODE_ARGS !== undefined) topology += ` (node ${process.env.BENCH_NODE_ARGS})`;
    return { system, topology, nodes, urls: nodes.map((n) => `${scheme}://127.0.0.1:${n.port}`), redis, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function inBatches<T>(n: number, batch: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += batch) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => fn(i + j)))));
  }
  return out;
}

/** Sums of one system's measured windows (saturation is measured in several interleaved rounds). */
class Accumulator {
  readonly hist = new Histogram();
  seconds = 0;
  published = 0;
  delivered = 0;
  lost = 0;
  serverCpu = 0;
  serverUser = 0;
  serverSys = 0;
  redisCpu: number | undefined;
  loadgenCpu = 0;
  machineBusy = 0;
  serverDeliveries = 0;

  add(a: Snapshot, b: Snapshot): void {
    this.seconds += (b.at - a.at) / 1000;
    this.published += b.published - a.published;
    this.delivered += b.delivered - a.delivered;
    this.lost += b.lost - a.lost;
    this.serverCpu += b.serverCpu - a.serverCpu;
    this.serverUser += b.serverUser - a.serverUser;
    this.serverSys += b.serverSys - a.serverSys;
    if (a.redisCpu !== undefined && b.redisCpu !== undefined) this.redisCpu = (this.redisCpu ?? 0) + b.redisCpu - a.redisCpu;
    this.loadgenCpu += b.loadgenCpu - a.loadgenCpu;
    this.machineBusy += b.machineBusy - a.machineBusy;
    this.serverDeliveries += b.serverDeliveries - a.serverDeliveries;
  }

  result(): PhaseResult {
    const d = this.delivered;
    return {
      seconds: this.seconds,
      published: this.published,
      deliveries: d,
      deliveriesPerSec: d / this.seconds,
      serverDeliveries: this.serverDeliveries,
      latencyUs: { p50: this.hist.percentile(0.5), p99: this.hist.percentile(0.99), max: this.hist.max, count: this.hist.count },
      serverCpuSec: this.serverCpu,
      serverCpuUsPerDelivery: (this.serverCpu * 1e6) / d,
      serverUserUsPerDelivery: (this.serverUser * 1e6) / d,
      serverSysUsPerDelivery: (this.serverSys * 1e6) / d,
      redisCpuSec: this.redisCpu,
      redisCpuUsPerDelivery: this.redisCpu === undefined ? undefined : (this.redisCpu * 1e6) / d,
      loadgenCpuSec: this.loadgenCpu,
      otherCpuSec: Math.max(0, this.machineBusy - this.serverCpu - (this.redisCpu ?? 0) - this.loadgenCpu),
      lost: this.lost,
    };
  }
}

/**
 * The load generator for one deployment: its subscribers and publishers, the closed loop and the
 * fixed-rate loop. The same code for every system; only `dep.system` differs.
 */
class Driver {
  readonly dep: Deployment;
  readonly saturation = new Accumulator();
  readonly #perChannel = FANOUT.subscribers / FANOUT.channels;
  readonly #track = new Map<number, Tracked>();
  readonly #inflight = new Array<number>(FANOUT.channels).fill(0);
  #seq = 0;
  #published = 0;
  #delivered = 0;
  #lost = 0;
  #hist: Histogram | undefined;
  #closedLoop = false;
  #subs: BenchConnection[] = [];
  #pubs: BenchConnection[] = [];
  readonly #sweeper: NodeJS.Timeout;

  constructor(dep: Deployment) {
    this.dep = dep;
    this.#sweeper = setInterval(() => this.#sweep(), 250);
  }

  /** Connects and subscribes everyone, then checks one message per channel reaches every subscriber. */
  async connect(): Promise<void> {
    const { channels, subscribers } = FANOUT;
    const onMessage = (_channel: string, p: Payload): void => this.#onMessage(p);
    // Subscriber i listens on channel i % 10 at node ⌊i / 10⌋ % nodes: each channel has the same
    // number of subscribers on every node.
    this.#subs = await inBatches(subscribers, 50, async (i) => {
      const conn = await this.dep.system.connect(this.dep.urls[Math.floor(i / channels) % this.dep.urls.length] as string);
      conn.onMessage(onMessage);
      await conn.subscribe(channelName(i % channels));
      return conn;
    });
    // Publishers all on node A: on a 2-node system every delivery on node B crossed Redis.
    this.#pubs = await inBatches(channels, channels, () => this.dep.system.connect(this.dep.urls[0] as string));
    for (let c = 0; c < channels; c++) this.#send(c);
    const deadline = Date.now() + 10_000;
    while (this.#track.size > 0 && Date.now() < deadline) await sleep(20);
    if (this.#track.size > 0 || this.#delivered !== subscribers) {
      throw new Error(`verification failed: ${this.#delivered} of ${subscribers} subscribers got the first message`);
    }
  }

  /** One saturation round: closed loop, `warmupMs` unmeasured, then `measureMs` added to {@link saturation}. */
  async saturate(warmupMs: number, measureMs: number): Promise<void> {
    this.#closedLoop = true;
    for (let c = 0; c < FANOUT.channels; c++) this.#pump(c);
    await sleep(warmupMs);
    this.#hist = this.saturation.hist;
    const a = await this.#snap();
    await sleep(measureMs);
    const b = await this.#snap();
    this.#hist = undefined;
    this.#closedLoop = false;
    this.saturation.add(a, b);
    await this.#drain();
  }

  /** The open loop at FANOUT.fixedRate, published on a 10 ms tick, bounded in count and time. */
  async fixed(): Promise<PhaseResult> {
    const acc = new Accumulator();
    const total = Math.round((FANOUT.fixedRate * (FANOUT.fixedLeadMs + FANOUT.fixedMs)) / 1000);
    const start = performance.now();
    let sent = 0;
    let a: Snapshot | undefined;
    while (sent < total) {
      const elapsed = performance.now() - start;
      if (elapsed > FANOUT.fixedLeadMs + FANOUT.fixedMs + 2000) break; // never overrun
      if (a === undefined && elapsed >= FANOUT.fixedLeadMs) {
        this.#hist = acc.hist;
        a = await this.#snap();
      }
      const due = Math.min(total, Math.floor((elapsed / 1000) * FANOUT.fixedRate));
      for (; sent < due; sent++) this.#send(sent % FANOUT.channels);
      await sleep(10);
    }
    const b = await this.#snap();
    this.#hist = undefined;
    await this.#drain();
    if (a === undefined) throw new Error('fixed-rate phase did not start');
    acc.add(a, b);
    return acc.result();
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.#closedLoop = false;
    for (const c of [...this.#subs, ...this.#pubs]) c.close();
  }

  #send(c: number): void {
    const s = ++this.#seq;
    this.#track.set(s, { remaining: this.#perChannel, sentAt: performance.now(), channel: c });
    this.#inflight[c] = (this.#inflight[c] ?? 0) + 1;
    this.#published++;
    (this.#pubs[c] as BenchConnection).publish(channelName(c), payload(s));
  }

  #pump(c: number): void {
    while (this.#closedLoop && (this.#inflight[c] ?? 0) < FANOUT.window) this.#send(c);
  }

  #complete(e: Tracked): void {
    this.#inflight[e.channel] = (this.#inflight[e.channel] ?? 1) - 1;
    this.#pump(e.channel);
  }

  #onMessage(p: Payload): void {
    const now = performance.now() * 1000;
    this.#hist?.record(now - p.t);
    this.#delivered++;
    const e = this.#track.get(p.s);
    if (e !== undefined && --e.remaining === 0) {
      this.#track.delete(p.s);
      this.#complete(e);
    }
  }

  #sweep(): void {
    const cutoff = performance.now() - FANOUT.lostAfterMs;
    for (const [s, e] of this.#track) {
      if (e.sentAt > cutoff) break; // insertion order = send order
      this.#track.delete(s);
      this.#lost += e.remaining;
      this.#complete(e);
    }
  }

  async #drain(): Promise<void> {
    const deadline = Date.now() + FANOUT.lostAfterMs + 500;
    while (this.#track.size > 0 && Date.now() < deadline) await sleep(20);
  }

  async #snap(): Promise<Snapshot> {
    const counts = await Promise.all(this.dep.nodes.map((n) => n.stats()));
    const cpu = process.cpuUsage();
    const times = this.dep.nodes.map((n) => cpuTime(n.pid));
    const redisPid = this.dep.redis?.process?.pid;
    return {
      at: performance.now(),
      published: this.#published,
      delivered: this.#delivered,
      lost: this.#lost,
      serverCpu: times.reduce((sum, t) => sum + t.user + t.sys, 0),
      serverUser: times.reduce((sum, t) => sum + t.user, 0),
      serverSys: times.reduce((sum, t) => sum + t.sys, 0),
      machineBusy: machineBusySeconds(),
      redisCpu: redisPid === undefined ? undefined : cpuSeconds(redisPid),
      loadgenCpu: (cpu.user + cpu.system) / 1e6,
      serverDeliveries: counts.reduce((sum, x) => sum + x.deliveries, 0),
    };
  }
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const pct = (cpu: number, s: number): string => `${((cpu / s) * 100).toFixed(0)} % of a core`;
const ms = (us: number): string => `${(us / 1000).toFixed(2)} ms`;

/** Whether @tributary/engine exports RedisEngine (it is being written alongside this benchmark). */
export async function redisEngineAvailable(): Promise<boolean> {
  const mod = (await import('@tributary/engine/redis')) as Record<string, unknown>;
  return typeof mod.RedisEngine === 'function';
}

/**
 * Deploys every system (each on its own fresh processes, idle while another is measured), then
 * measures saturation in interleaved rounds — A, B, C, … A, B, C, … — so that load from other work
 * on a shared machine falls on every system alike, then the fixed rate for each in turn.
 */
export async function runFanout(log: (s: string) => void = console.log): Promise<FanoutResult[]> {
  const kinds: Kind[] = ['rawws', 'tributary-memory', 'tributary-redis', 'tributary-redis-coalesce', 'socketio', 'rawws-cork'];
  const only = process.env.BENCH_ONLY?.split(',');
  const load = await machineLoad();
  log(`fan-out: machine busy ${load.toFixed(2)} cores before start`);
  const results = new Map<Kind, FanoutResult>();
  const drivers = new Map<Kind, Driver>();
  try {
    for (const kind of kinds) {
      if (only !== undefined && !only.includes(kind)) continue;
      if ((kind === 'tributary-redis' || kind === 'tributary-redis-coalesce') && !(await redisEngineAvailable())) {
        results.set(kind, {
          name: 'Tributary, RedisEngine',
          topology: '2 nodes on 1 Redis',
          skipped: 'RedisEngine is not exported by @tributary/engine yet',
        });
        log(`fan-out ${kind}: not run (RedisEngine missing)`);
        continue;
      }
      let dep: Deployment | undefined;
      try {
        dep = await deploy(kind);
        const d = new Driver(dep);
        drivers.set(kind, d);
        await d.connect();
        log(
          `fan-out ${kind}: ${FANOUT.subscribers} subscribers on ${dep.urls.length} node(s), ${FANOUT.channels} publishers on node A, verified`,
        );
      } catch (err) {
        log(`fan-out ${kind} failed: ${(err as Error).stack ?? String(err)}`);
        results.set(kind, { name: dep?.system.name ?? kind, topology: dep?.topology ?? '', skipped: `failed: ${(err as Error).message}` });
        drivers.get(kind)?.close();
        drivers.delete(kind);
        await dep?.stop();
      }
    }
    const roundMs = FANOUT.measureMs / FANOUT.rounds;
    for (let round = 1; round <= FANOUT.rounds; round++) {
      for (const [kind, d] of drivers) {
        if (results.has(kind)) continue;
        try {
          await d.saturate(round === 1 ? FANOUT.warmupMs : FANOUT.roundWarmupMs, roundMs);
        } catch (err) {
          log(`fan-out ${kind} failed: ${(err as Error).stack ?? String(err)}`);
          results.set(kind, { name: d.dep.system.name, topology: d.dep.topology, skipped: `failed: ${(err as Error).message}` });
        }
      }
      log(`fan-out: saturation round ${round}/${FANOUT.rounds} done`);
    }
    for (const [kind, d] of drivers) {
      if (results.has(kind)) continue;
      try {
        const saturation = d.saturation.result();
        const fixed = await d.fixed();
        results.set(kind, { name: d.dep.system.name, topology: d.dep.topology, saturation, fixed, machineLoadBefore: load });
        log(
          `fan-out ${kind}: saturation ${fmt(saturation.deliveriesPerSec)} deliveries/s, p50 ${ms(saturation.latencyUs.p50)} p99 ${ms(saturation.latencyUs.p99)}, ` +
            `server ${saturation.serverCpuUsPerDelivery.toFixed(2)} µs CPU/delivery (user ${saturation.serverUserUsPerDelivery.toFixed(2)}, ` +
            `sys ${saturation.serverSysUsPerDelivery.toFixed(2)}), load generator ${pct(saturation.loadgenCpuSec, saturation.seconds)}, ` +
            `other processes ${pct(saturation.otherCpuSec, saturation.seconds)}; fixed ${FANOUT.fixedRate} msg/s: p50 ${ms(fixed.latencyUs.p50)} ` +
            `p99 ${ms(fixed.latencyUs.p99)}, server ${fixed.serverCpuUsPerDelivery.toFixed(2)} µs CPU/delivery`,
        );
      } catch (err) {
        log(`fan-out ${kind} failed: ${(err as Error).stack ?? String(err)}`);
        results.set(kind, { name: d.dep.system.name, topology: d.dep.topology, skipped: `failed: ${(err as Error).message}` });
      }
    }
  } finally {
    for (const d of drivers.values()) d.close();
    await Promise.allSettled([...drivers.values()].map((d) => d.dep.stop()));
  }
  return kinds.flatMap((k) => results.get(k) ?? []);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await runFanout();
  console.log(JSON.stringify(results, null, 2));
}
