/**
 * Traffic shapes (issue 21): Tributary on the MemoryEngine, Tributary on Redis (2 nodes on one
 * Redis) and Socket.IO 4 + @socket.io/redis-streams-adapter (2 nodes on one Redis), driven by one
 * multi-threaded load generator (lib/loadgen.ts) through the adapters in lib/shape-clients.ts, on
 * five shapes: fan-out, one connection round-robin over 10 channels, per-device channels, a
 * wildcard aggregator with idle patterns, and presence churn while messages flow.
 *
 * Per shape, every system is deployed (fresh processes, a fresh redis-server each) and connected
 * first, then measured at saturation in interleaved rounds (A, B, C, A, B, C, …, so background load
 * on a shared machine falls on each alike), then at one fixed moderate load, the same for all.
 *
 * Run alone: node --import tsx scripts/bench/shapes.ts [--quick] [--write] [--shapes=fanout,devices]
 *   --quick  short windows (development and smoke runs; the numbers are rough). Quick or partial
 *            runs write their JSON to the temp dir, a complete full run to scripts/bench/results/shapes.json
 *   --write  replaces the "Traffic shapes" section of BENCHMARKS.md
 *   --render only rewrites that section from the last scripts/bench/results/shapes.json
 * BENCH_ONLY=tributary-memory,tributary-redis,socketio picks systems; BENCH_THREADS sets the load
 * generator's threads (default 2).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../../packages/testkit/src/redis.js';
import { fixedLoad } from './lib/fixed-load.js';
import { Histogram } from './lib/hist.js';
import { Loadgen, type LoopDelay, type ShapeConnections, type WorkerCounters, ZERO_COUNTERS, addCounters } from './lib/loadgen.js';
import { machineInfo, machineLoad } from './lib/machine.js';
import { cpuSeconds, cpuTime, machineBusySeconds, sleep, spawnServer, type ServerChild } from './lib/proc.js';
import { addCommands, commandDelta, commandsPer, parseCommandStats, type CommandCounts } from './lib/redis-stats.js';
import type { ClientKind } from './lib/shape-clients.js';
import type { ShapeId, ShapePhase, ShapeResult, ShapesResults, ShapeTiming, SystemKind } from './lib/shape-results.js';
import { renderShapesSection, writeShapesSection } from './shapes-report.js';

export type { ShapeId, ShapePhase, ShapeResult, ShapesResults, ShapeSystemResult, ShapeTiming, SystemKind } from './lib/shape-results.js';

// The fixed window is long enough that its p99 is not one collector pause (a scavenge of a busy
// node took 5-20 ms on 2 cores): the wildcard shape's p99 was 5.9-42 ms in 1.5 s windows and 6.1
// or 9.8 ms in 4 s ones, run to run.
export const FULL: ShapeTiming = { firstWarmupMs: 2000, roundWarmupMs: 500, roundMs: 2500, rounds: 3, fixedLeadMs: 1000, fixedMs: 10_000 };
export const QUICK: ShapeTiming = { firstWarmupMs: 1000, roundWarmupMs: 300, roundMs: 1000, rounds: 2, fixedLeadMs: 500, fixedMs: 1500 };

/** What every shape shares. */
export const SHAPE_COMMON = {
  payloadBytes: 200,
  lostAfterMs: 3000,
  /** The issue's fixed moderate load; lowered per shape to half the slowest system's saturation. */
  fixedDeliveriesPerSec: 20_000,
  fixedShareOfSaturation: 0.5,
} as const;

/** A traffic shape: its connections for a deployment of `nodes` nodes. */
export interface Shape {
  id: ShapeId;
  title: string;
  /** What the shape is, for the report. */
  setup: string;
  /** Windowed deliveries per message (1 = throughput is messages/s). */
  fanout: number;
  /** Joins + leaves per second while measured (presence only). */
  churnPerSec: number;
  presenceQueryEvery: number;
  /** Socket.IO emits to pattern rooms too (the wildcard shape). */
  sioPatterns: boolean;
  build(nodes: number): ShapeConnections;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** 10 channels × 100 subscribers, shared by fan-out and round-robin. */
function tenByHundred(prefix: string, nodes: number): ShapeConnections['subscribers'] {
  // Subscriber i listens on channel i % 10 at node ⌊i / 10⌋ % nodes: every channel has the same
  // number of subscribers on every node (as fanout.ts).
  return range(1000).map((i) => ({ node: Math.floor(i / 10) % nodes, channels: [`${prefix}.c${i % 10}`], presence: false, window: true }));
}

/** 100 publishers, publisher j round-robin over the 20 devices j, j + 100, …; half its devices' readers on each node. */
function devicePublishers(channel: (i: number) => string, expected: number, nodes: number): ShapeConnections['publishers'] {
  return range(100).map((j) => {
    const channels = range(20).map((m) => channel(j + 100 * m));
    return { key: j, node: j % nodes, channels, expected: channels.map(() => expected), window: 4 };
  });
}

export const SHAPES: Shape[] = [
  {
    id: 'fanout',
    title: 'Fan-out: 10 channels × 100 subscribers, one publisher connection per channel',
    setup:
      "fanout.ts's shape: 1000 subscribers, 100 on each of 10 channels, split evenly over the nodes; 10 publisher connections on node A, one per channel, each with at most 8 messages in flight.",
    fanout: 100,
    churnPerSec: 0,
    presenceQueryEvery: 1,
    sioPatterns: false,
    build: (nodes) => ({
      subscribers: tenByHundred('fan', nodes),
      publishers: range(10).map((c) => ({ key: c, node: 0, channels: [`fan.c${c}`], expected: [100], window: 8 })),
      churners: [],
    }),
  },
  {
    id: 'roundrobin',
    title: 'Round-robin: ONE publisher connection over 10 channels, 1000 subscribers',
    setup:
      'The same 1000 subscribers on 10 channels; a single publisher connection on node A publishes to the channels in turn (a gateway or a bot), at most 80 messages in flight.',
    fanout: 100,
    churnPerSec: 0,
    presenceQueryEvery: 1,
    sioPatterns: false,
    build: (nodes) => ({
      subscribers: tenByHundred('rr', nodes),
      publishers: [{ key: 0, node: 0, channels: range(10).map((c) => `rr.c${c}`), expected: range(10).map(() => 100), window: 80 }],
      churners: [],
    }),
  },
  {
    id: 'devices',
    title: 'Per-device channels: 2000 channels × 1 subscriber, 100 publisher connections',
    setup:
      '2000 channels `dev.d<i>`, one subscriber connection each; 100 publisher connections spread over the nodes, each publishing single messages round-robin over its 20 devices, at most 4 in flight; half of each publisher’s devices are read on the other node.',
    fanout: 1,
    churnPerSec: 0,
    presenceQueryEvery: 1,
    sioPatterns: false,
    build: (nodes) => ({
      subscribers: range(2000).map((i) => ({ node: Math.floor(i / 100) % nodes, channels: [`dev.d${i}`], presence: false, window: true })),
      publishers: devicePublishers((i) => `dev.d${i}`, 1, nodes),
      churners: [],
    }),
  },
  {
    id: 'wildcard',
    title: 'Wildcard aggregator: 2000 device channels, 4 `sensors.>` subscribers, 2000 idle patterns',
    setup:
      '100 publisher connections publish round-robin over 2000 channels `sensors.d<i>.temp` (20 each, at most 4 in flight); 4 aggregator connections (2 per node) subscribe to `sensors.>`; 20 other connections hold 100 patterns each, `sensors.d<i>.cmd.*` for every device (2000 distinct, idle: no traffic matches them).',
    fanout: 4,
    churnPerSec: 0,
    presenceQueryEvery: 1,
    sioPatterns: true,
    build: (nodes) => ({
      subscribers: [
        ...range(4).map((a) => ({ node: a % nodes, channels: ['sensors.>'], presence: false, window: true })),
        ...range(20).map((c) => ({
          node: c % nodes,
          channels: range(100).map((m) => `sensors.d${c * 100 + m}.cmd.*`),
          presence: false,
          window: false,
        })),
      ],
      publishers: devicePublishers((i) => `sensors.d${i}.temp`, 4, nodes),
      churners: [],
    }),
  },
  {
    id: 'presence',
    title: 'Presence-heavy: 20 rooms × 50 members with presence, 1000 more joining and leaving',
    setup:
      '20 rooms `chat.r<k>`, each with 50 steady members subscribed with presence; one publisher connection per room (spread over the nodes, at most 8 in flight); meanwhile 1000 churner connections join a room with presence and leave it again, 200 joins + leaves per second in total, every 10th join followed by a presence query. Members (churners included while joined) get the messages and every join/leave.',
    fanout: 50,
    churnPerSec: 200,
    presenceQueryEvery: 10,
    sioPatterns: false,
    build: (nodes) => ({
      subscribers: range(1000).map((i) => ({
        node: Math.floor(i / 20) % nodes,
        channels: [`chat.r${i % 20}`],
        presence: true,
        window: true,
      })),
      publishers: range(20).map((k) => ({ key: k, node: k % nodes, channels: [`chat.r${k}`], expected: [50], window: 8 })),
      churners: range(1000).map((i) => ({ node: i % nodes, rooms: range(20).map((m) => `chat.r${(i + m) % 20}`) })),
    }),
  },
];

const SYSTEMS: Record<SystemKind, { name: string; topology: string }> = {
  'tributary-memory': { name: 'Tributary, MemoryEngine', topology: '1 node, in-memory engine' },
  'tributary-redis': { name: 'Tributary, RedisEngine', topology: '2 nodes on 1 Redis' },
  socketio: { name: 'Socket.IO 4 + redis-streams-adapter', topology: '2 nodes on 1 Redis' },
};

interface Deployment {
  kind: SystemKind;
  client: ClientKind;
  nodes: ServerChild[];
  urls: string[];
  redis: RedisServer | undefined;
  redisClient: Redis | undefined;
  stop(): Promise<void>;
}

async function deploy(kind: SystemKind, shape: Shape): Promise<Deployment> {
  const nodes: ServerChild[] = [];
  let redis: RedisServer | undefined;
  let redisClient: Redis | undefined;
  const stop = async (): Promise<void> => {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    redisClient?.disconnect();
    await redis?.stop();
  };
  try {
    if (kind === 'tributary-memory') {
      nodes.push(await spawnServer('tributary.ts', { BENCH_ENGINE: 'memory' }));
    } else {
      // A fresh redis-server per system, so its CPU and command counts are that system's alone.
      redis = await startRedis({ honourEnv: false });
      redisClient = new Redis(redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
      const env: Record<string, string> =
        kind === 'socketio'
          ? { BENCH_REDIS_URL: redis.url, ...(shape.sioPatterns ? { BENCH_SIO_PATTERNS: '1' } : {}) }
          : { BENCH_REDIS_URL: redis.url, BENCH_ENGINE: 'redis' };
      const file = kind === 'socketio' ? 'socketio-shapes.ts' : 'tributary.ts';
      for (const id of ['A', 'B']) nodes.push(await spawnServer(file, { ...env, BENCH_NODE_ID: id }));
    }
    const scheme = kind === 'socketio' ? 'http' : 'ws';
    const client: ClientKind = kind === 'socketio' ? 'socketio' : 'tributary';
    return { kind, client, nodes, urls: nodes.map((n) => `${scheme}://127.0.0.1:${n.port}`), redis, redisClient, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

interface Snap {
  at: number;
  counters: WorkerCounters;
  hist: Histogram;
  loop: LoopDelay;
  serverUser: number;
  serverSys: number;
  redisCpu: number | undefined;
  redisCommands: CommandCounts | undefined;
  loadgenCpu: number;
  machineBusy: number;
}

/** Sums of measured windows (saturation is several interleaved rounds). */
class Accumulator {
  readonly hist = new Histogram();
  seconds = 0;
  counters: WorkerCounters = ZERO_COUNTERS;
  serverUser = 0;
  serverSys = 0;
  redisCpu: number | undefined;
  redisCommands: CommandCounts | undefined;
  loadgenCpu = 0;
  machineBusy = 0;
  loopP99 = 0;
  loopMax = 0;

  add(a: Snap, b: Snap): void {
    // b's loop delay covers (a, b]: the snap resets it.
    this.loopP99 = Math.max(this.loopP99, b.loop.p99Ms);
    this.loopMax = Math.max(this.loopMax, b.loop.maxMs);
    this.seconds += (b.at - a.at) / 1000;
    const d = { ...b.counters };
    for (const k of Object.keys(d) as Array<keyof WorkerCounters>) d[k] -= a.counters[k];
    this.counters = addCounters(this.counters, d);
    this.hist.merge(b.hist.export());
    this.serverUser += b.serverUser - a.serverUser;
    this.serverSys += b.serverSys - a.serverSys;
    if (a.redisCpu !== undefined && b.redisCpu !== undefined) this.redisCpu = (this.redisCpu ?? 0) + b.redisCpu - a.redisCpu;
    if (a.redisCommands !== undefined && b.redisCommands !== undefined) {
      this.redisCommands = addCommands(this.redisCommands ?? {}, commandDelta(a.redisCommands, b.redisCommands));
    }
    this.loadgenCpu += b.loadgenCpu - a.loadgenCpu;
    this.machineBusy += b.machineBusy - a.machineBusy;
  }

  result(): ShapePhase {
    const s = this.seconds;
    const c = this.counters;
    const msgs = c.published;
    const server = this.serverUser + this.serverSys;
    const cmds = this.redisCommands === undefined ? undefined : commandsPer(this.redisCommands, msgs);
    return {
      seconds: s,
      published: msgs,
      deliveries: c.delivered,
      messagesPerSec: msgs / s,
      deliveriesPerSec: c.delivered / s,
      latencyUs: { p50: this.hist.percentile(0.5), p99: this.hist.percentile(0.99), max: this.hist.max, count: this.hist.count },
      serverUserSec: this.serverUser,
      serverSysSec: this.serverSys,
      serverCpuUsPerMessage: (server * 1e6) / msgs,
      serverCpuUsPerDelivery: (server * 1e6) / c.delivered,
      serverUserUsPerMessage: (this.serverUser * 1e6) / msgs,
      serverSysUsPerMessage: (this.serverSys * 1e6) / msgs,
      redisCpuSec: this.redisCpu,
      redisCpuUsPerMessage: this.redisCpu === undefined ? undefined : (this.redisCpu * 1e6) / msgs,
      redisCommandsPerMessage: cmds?.total,
      redisTopCommands: cmds?.top,
      serverCores: server / s,
      redisCores: this.redisCpu === undefined ? undefined : this.redisCpu / s,
      loadgenCores: this.loadgenCpu / s,
      loadgenLoopDelayP99Ms: this.loopP99,
      loadgenLoopDelayMaxMs: this.loopMax,
      otherCores: Math.max(0, this.machineBusy - server - (this.redisCpu ?? 0) - this.loadgenCpu) / s,
      presenceEventsPerSec: c.presenceEvents / s,
      churnOpsPerSec: c.churnOps / s,
      presenceQueries: c.presenceQueries,
      lost: c.lost,
      errors: c.errors,
    };
  }
}

/** One system under one shape: its deployment and its load generator. */
class Driver {
  readonly dep: Deployment;
  readonly loadgen: Loadgen;
  readonly shape: Shape;
  readonly saturation = new Accumulator();

  constructor(dep: Deployment, shape: Shape, threads: number) {
    this.dep = dep;
    this.shape = shape;
    this.loadgen = new Loadgen(
      {
        client: dep.client,
        urls: dep.urls,
        payloadBytes: SHAPE_COMMON.payloadBytes,
        lostAfterMs: SHAPE_COMMON.lostAfterMs,
        presenceQueryEvery: shape.presenceQueryEvery,
      },
      shape.build(dep.urls.length),
      threads,
    );
  }

  async snap(): Promise<Snap> {
    const [lg, info] = await Promise.all([this.loadgen.snap(), this.dep.redisClient?.info('commandstats')]);
    const times = this.dep.nodes.map((n) => cpuTime(n.pid));
    const cpu = process.cpuUsage();
    const redisPid = this.dep.redis?.process?.pid;
    return {
      at: performance.now(),
      counters: lg.counters,
      hist: lg.hist,
      loop: lg.loop,
      serverUser: times.reduce((s, t) => s + t.user, 0),
      serverSys: times.reduce((s, t) => s + t.sys, 0),
      redisCpu: redisPid === undefined ? undefined : cpuSeconds(redisPid),
      redisCommands: info === undefined ? undefined : parseCommandStats(info),
      loadgenCpu: (cpu.user + cpu.system) / 1e6,
      machineBusy: machineBusySeconds(),
    };
  }

  async saturate(warmupMs: number, measureMs: number): Promise<void> {
    await this.loadgen.closedLoop(this.shape.churnPerSec);
    await sleep(warmupMs);
    const a = await this.snap();
    await sleep(measureMs);
    const b = await this.snap();
    await this.loadgen.drain();
    this.saturation.add(a, b);
  }

  async fixed(msgsPerSec: number, t: ShapeTiming): Promise<ShapePhase> {
    const acc = new Accumulator();
    await this.loadgen.fixedRate(msgsPerSec, this.shape.churnPerSec);
    await sleep(t.fixedLeadMs);
    const a = await this.snap();
    await sleep(t.fixedMs);
    const b = await this.snap();
    await this.loadgen.drain();
    acc.add(a, b);
    return acc.result();
  }

  async close(): Promise<void> {
    await this.loadgen.close();
    await this.dep.stop();
  }
}

const fmt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');

async function runShape(
  shape: Shape,
  kinds: SystemKind[],
  t: ShapeTiming,
  threads: number,
  log: (s: string) => void,
): Promise<ShapeResult> {
  const drivers = new Map<SystemKind, Driver>();
  const failed = new Map<SystemKind, string>();
  const fail = (kind: SystemKind, err: unknown): void => {
    log(`${shape.id} ${kind} failed: ${(err as Error).stack ?? String(err)}`);
    failed.set(kind, `failed: ${(err as Error).message}`);
  };
  const out: ShapeResult = {
    id: shape.id,
    title: shape.title,
    setup: shape.setup,
    fanout: shape.fanout,
    churnPerSec: shape.churnPerSec,
    fixedMsgsPerSec: 0,
    fixedDeliveriesPerSec: 0,
    fixedNote: '',
    systems: [],
  };
  try {
    for (const kind of kinds) {
      let driver: Driver | undefined;
      try {
        const t0 = performance.now();
        const dep = await deploy(kind, shape);
        driver = new Driver(dep, shape, threads);
        drivers.set(kind, driver);
        await driver.loadgen.connect();
        const missing = await driver.loadgen.verify(15_000);
        if (missing > 0) throw new Error(`verification: ${missing} deliveries of the first message per channel missing`);
        log(`${shape.id} ${kind}: connected and verified in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      } catch (err) {
        fail(kind, err);
        drivers.delete(kind);
        await driver?.close().catch(() => {});
      }
    }
    for (let round = 1; round <= t.rounds; round++) {
      for (const [kind, d] of drivers) {
        if (failed.has(kind)) continue;
        try {
          await d.saturate(round === 1 ? t.firstWarmupMs : t.roundWarmupMs, t.roundMs);
        } catch (err) {
          fail(kind, err);
        }
      }
    }
    const sats = [...drivers].filter(([k]) => !failed.has(k)).map(([, d]) => d.saturation.result());
    // Divide by the deliveries a message actually produced (churners in a room add to the nominal fan-out).
    const perMessage = Math.max(shape.fanout, ...sats.map((s) => s.deliveries / s.published).filter(Number.isFinite));
    const load = fixedLoad(
      perMessage,
      sats.map((s) => s.deliveriesPerSec),
      SHAPE_COMMON.fixedDeliveriesPerSec,
      SHAPE_COMMON.fixedShareOfSaturation,
    );
    out.fixedMsgsPerSec = load.msgsPerSec;
    out.fixedDeliveriesPerSec = load.deliveriesPerSec;
    out.fixedNote = load.note;
    for (const kind of kinds) {
      const d = drivers.get(kind);
      const base = { kind, ...SYSTEMS[kind] };
      if (d === undefined || failed.has(kind)) {
        out.systems.push({ ...base, skipped: failed.get(kind) ?? 'not run' });
        continue;
      }
      const saturation = d.saturation.result();
      try {
        const fixed = await d.fixed(load.msgsPerSec, t);
        out.systems.push({ ...base, saturation, fixed });
      } catch (err) {
        fail(kind, err);
        out.systems.push({ ...base, saturation, skipped: failed.get(kind) });
      }
    }
  } finally {
    await Promise.allSettled([...drivers.values()].map((d) => d.close()));
  }
  return out;
}

/** Runs every shape (or `only`) for every system (or BENCH_ONLY) and returns the results. */
export async function runShapes(opts: { quick?: boolean; shapes?: ShapeId[]; log?: (s: string) => void } = {}): Promise<ShapesResults> {
  const log = opts.log ?? console.log;
  const t = opts.quick === true ? QUICK : FULL;
  const threads = Number(process.env.BENCH_THREADS ?? 2);
  const kinds = (['tributary-memory', 'tributary-redis', 'socketio'] as const).filter(
    (k) => process.env.BENCH_ONLY === undefined || process.env.BENCH_ONLY.split(',').includes(k),
  );
  const t0 = performance.now();
  const before = loadavg();
  const busy = await machineLoad();
  log(
    `shapes: load average ${before.map((x) => x.toFixed(2)).join(' ')}, machine busy ${busy.toFixed(2)} cores before start; load generator: ${threads} threads`,
  );
  const shapes: ShapeResult[] = [];
  for (const shape of SHAPES) {
    if (opts.shapes !== undefined && !opts.shapes.includes(shape.id)) continue;
    const r = await runShape(shape, [...kinds], t, threads, log);
    shapes.push(r);
    log(renderShapeTable(r));
  }
  return {
    machine: machineInfo(),
    quick: opts.quick === true,
    timing: t,
    loadgenThreads: threads,
    loadAverage: { before, after: loadavg() },
    machineBusyCoresBefore: busy,
    totalSeconds: (performance.now() - t0) / 1000,
    shapes,
  };
}

/** A plain-text table of one shape, for stdout. */
export function renderShapeTable(r: ShapeResult): string {
  const L = [`\n== ${r.title}  (fixed load: ${fmt(r.fixedMsgsPerSec)} msgs/s${r.fixedNote === '' ? '' : `; ${r.fixedNote}`})`];
  const head = [
    'system',
    'msgs/s',
    'deliv/s',
    'srv µs/msg',
    'srv µs/deliv',
    'redis µs/msg',
    'redis cmd/msg',
    'fixed p50/p99 ms',
    'cores srv/redis/lg/other',
    'lg loop p99 ms sat/fixed',
    'lost',
  ];
  const rows = r.systems.map((s) => {
    const p = s.saturation;
    const f = s.fixed;
    if (p === undefined) return [s.name, s.skipped ?? 'not run', '', '', '', '', '', '', '', '', ''];
    const o = (n: number | undefined, d = 1): string => (n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(d));
    return [
      s.name,
      fmt(p.messagesPerSec),
      fmt(p.deliveriesPerSec),
      o(p.serverCpuUsPerMessage),
      o(p.serverCpuUsPerDelivery, 2),
      o(p.redisCpuUsPerMessage),
      o(p.redisCommandsPerMessage),
      f === undefined ? (s.skipped ?? '') : `${o(f.latencyUs.p50 / 1000)} / ${o(f.latencyUs.p99 / 1000)}`,
      `${o(p.serverCores, 2)} / ${o(p.redisCores, 2)} / ${o(p.loadgenCores, 2)} / ${o(p.otherCores, 2)}`,
      `${o(p.loadgenLoopDelayP99Ms)} / ${o(f?.loadgenLoopDelayP99Ms)}`,
      String(p.lost + (f?.lost ?? 0)),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  L.push(line(head), ...rows.map(line));
  for (const s of r.systems) {
    if (r.churnPerSec > 0 && s.saturation !== undefined) {
      L.push(
        `  ${s.name}: presence frames ${fmt(s.saturation.presenceEventsPerSec)}/s, churn ${fmt(s.saturation.churnOpsPerSec)} ops/s, ${s.saturation.presenceQueries} presence queries, ${s.saturation.errors} errors`,
      );
    }
  }
  return L.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv.includes('--render')) {
  // Rewrites the section from the last results/shapes.json without measuring (after a change to the report only).
  const file = fileURLToPath(new URL('./results/shapes.json', import.meta.url));
  writeShapesSection(renderShapesSection(JSON.parse(readFileSync(file, 'utf8')) as ShapesResults));
  console.log('rewrote the Traffic shapes section of BENCHMARKS.md from scripts/bench/results/shapes.json');
  process.exit(0);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  const only = process.argv
    .find((a) => a.startsWith('--shapes='))
    ?.slice('--shapes='.length)
    .split(',') as ShapeId[] | undefined;
  const results = await runShapes({ quick, ...(only === undefined ? {} : { shapes: only }) });
  // Only a complete full run replaces the results file the section is rendered from; a quick or
  // partial run goes to the temp dir, so a smoke run never overwrites the numbers BENCHMARKS.md shows.
  const complete = !quick && only === undefined && process.env.BENCH_ONLY === undefined;
  const dir = complete ? fileURLToPath(new URL('./results/', import.meta.url)) : `${tmpdir()}/`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}shapes.json`, `${JSON.stringify(results, null, 2)}\n`);
  console.log(
    `\nload average after: ${results.loadAverage.after.map((x) => x.toFixed(2)).join(' ')}; took ${Math.round(results.totalSeconds)} s; wrote ${dir}shapes.json`,
  );
  if (process.argv.includes('--write')) {
    writeShapesSection(renderShapesSection(results));
    console.log('wrote the Traffic shapes section of BENCHMARKS.md');
  }
  // Sockets the load generator closed may still be finishing their close handshakes.
  process.exit(0);
}
