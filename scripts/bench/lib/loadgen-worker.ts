/**
 * One load-generator thread of the traffic-shapes benchmark (started by lib/loadgen.ts). It holds
 * a slice of a shape's connections and runs its publishers' loops; what it measures it keeps
 * locally and hands over on `snap`.
 *
 * Closed loop across threads: a delivery counts toward its publisher's window by an atomic add on
 * a shared Int32Array indexed by the publisher's key, whichever thread received it; the thread that
 * owns the publisher reads that counter when it pumps (after a local delivery, and every 1 ms).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { dueMessages } from './fixed-load.js';
import { Histogram } from './hist.js';
import type { LoadgenReply, LoadgenRequest, PublisherSpec, WorkerData, WorkerCounters } from './loadgen.js';
import { connectShape, nowUs, type ShapeConnection, type ShapeMessage } from './shape-clients.js';

const data = workerData as WorkerData;
const plan = data.plan;
const shared = new Int32Array(data.shared);
const port = parentPort;
if (port === null) throw new Error('loadgen-worker runs as a worker thread');

interface Publisher {
  spec: PublisherSpec;
  conn: ShapeConnection;
  next: number;
  /** Window deliveries the messages published so far should produce. */
  expected: number;
  /** Largest window (in deliveries) allowed in flight. */
  limit: number;
  lastDelivered: number;
  lastProgress: number;
}

interface Churner {
  conn: ShapeConnection;
  rooms: string[];
  next: number;
  joined: string | undefined;
  busy: boolean;
}

const counters: WorkerCounters = { published: 0, delivered: 0, presenceEvents: 0, churnOps: 0, presenceQueries: 0, lost: 0, errors: 0 };
let hist = new Histogram();
// How late this thread's event loop runs: if the load generator were the limit, it would show here.
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
const subscribers: ShapeConnection[] = [];
const publishers: Publisher[] = [];
const churners: Churner[] = [];
const localKeys = new Set(plan.publishers.map((p) => p.key));
const pad = 'x'.repeat(plan.payloadBytes);

let mode: 'idle' | 'closed' | 'fixed' = 'idle';
let pumpScheduled = false;
let pumpTimer: NodeJS.Timeout | undefined;
let fixedTimer: NodeJS.Timeout | undefined;
let churnTimer: NodeJS.Timeout | undefined;
const sweepTimer = setInterval(sweep, 250);

/** A message whose JSON is `payloadBytes` long, stamped now. */
function message(k: number): ShapeMessage {
  const t = Math.round(nowUs());
  const bare = `{"t":${t},"k":${k},"pad":""}`.length;
  return { t, k, pad: pad.slice(0, Math.max(0, plan.payloadBytes - bare)) };
}

function send(p: Publisher): void {
  const i = p.next++ % p.spec.channels.length;
  p.expected += p.spec.expected[i] ?? 0;
  counters.published++;
  p.conn.publish(p.spec.channels[i] as string, message(p.spec.key));
}

function pump(): void {
  pumpScheduled = false;
  if (mode !== 'closed') return;
  for (const p of publishers) {
    while (p.expected - Atomics.load(shared, p.spec.key) < p.limit) send(p);
  }
}

function onDelivery(windowed: boolean) {
  return (d: ShapeMessage): void => {
    counters.delivered++;
    hist.record(nowUs() - d.t);
    if (!windowed) return;
    Atomics.add(shared, d.k, 1);
    if (mode === 'closed' && !pumpScheduled && localKeys.has(d.k)) {
      pumpScheduled = true;
      setImmediate(pump);
    }
  };
}

/** A publisher whose window has not moved for lostAfterMs gives up on what is in flight. */
function sweep(): void {
  const now = Date.now();
  for (const p of publishers) {
    const d = Atomics.load(shared, p.spec.key);
    if (d !== p.lastDelivered || p.expected <= d) {
      p.lastDelivered = d;
      p.lastProgress = now;
    } else if (now - p.lastProgress > plan.lostAfterMs) {
      counters.lost += p.expected - d;
      p.expected = d;
      p.lastProgress = now;
    }
  }
}

async function inBatches<T>(items: readonly T[], batch: number, fn: (t: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += batch) await Promise.all(items.slice(i, i + batch).map(fn));
}

const urlOf = (node: number): string => plan.urls[node % plan.urls.length] as string;

async function connect(): Promise<void> {
  await inBatches(plan.subscribers, 25, async (s) => {
    const conn = await connectShape(plan.client, urlOf(s.node));
    conn.onMessage(onDelivery(s.window));
    conn.onPresence(() => counters.presenceEvents++);
    subscribers.push(conn);
    for (const ch of s.channels) await conn.subscribe(ch, s.presence);
  });
  await inBatches(plan.publishers, 25, async (spec) => {
    const conn = await connectShape(plan.client, urlOf(spec.node));
    const maxExpected = Math.max(...spec.expected);
    publishers.push({ spec, conn, next: 0, expected: 0, limit: spec.window * maxExpected, lastDelivered: 0, lastProgress: Date.now() });
  });
  await inBatches(plan.churners, 25, async (c) => {
    const conn = await connectShape(plan.client, urlOf(c.node));
    // A churner is a member while joined: it gets the room's messages and presence like any other.
    conn.onMessage(onDelivery(false));
    conn.onPresence(() => counters.presenceEvents++);
    churners.push({ conn, rooms: c.rooms, next: 0, joined: undefined, busy: false });
  });
}

/** Publishes once to every channel of every local publisher and waits until all of it arrived. */
async function verify(timeoutMs: number): Promise<number> {
  for (const p of publishers) for (let i = 0; i < p.spec.channels.length; i++) send(p);
  const deadline = Date.now() + timeoutMs;
  const missing = (): number => publishers.reduce((s, p) => s + Math.max(0, p.expected - Atomics.load(shared, p.spec.key)), 0);
  while (missing() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return missing();
}

/** An open loop at `ratePerPublisher`, checked every millisecond, each publisher at its own phase. */
function startFixed(ratePerPublisher: number): void {
  const start = performance.now();
  const sent = publishers.map(() => 0);
  fixedTimer = setInterval(() => {
    const seconds = (performance.now() - start) / 1000;
    publishers.forEach((p, i) => {
      const due = dueMessages(seconds, ratePerPublisher, p.spec.key);
      for (; (sent[i] as number) < due; sent[i] = (sent[i] as number) + 1) send(p);
    });
  }, 1);
}

/** Joins and leaves at `perSec` operations per second over this thread's churners. */
function startChurn(perSec: number): void {
  if (churners.length === 0 || perSec <= 0) return;
  const start = performance.now();
  let done = 0;
  let cursor = 0;
  let joins = 0;
  churnTimer = setInterval(() => {
    const due = Math.floor(((performance.now() - start) / 1000) * perSec);
    for (let tries = 0; done < due && tries < churners.length; tries++) {
      const c = churners[cursor++ % churners.length] as Churner;
      if (c.busy) continue;
      done++;
      c.busy = true;
      let op: Promise<unknown>;
      if (c.joined === undefined) {
        const room = c.rooms[c.next++ % c.rooms.length] as string;
        const query = ++joins % plan.presenceQueryEvery === 0;
        op = c.conn.subscribe(room, true).then(async () => {
          c.joined = room;
          if (query) {
            await c.conn.presenceCount(room);
            counters.presenceQueries++;
          }
        });
      } else {
        const room = c.joined;
        op = c.conn.unsubscribe(room).then(() => {
          c.joined = undefined;
        });
      }
      op.then(
        () => {
          counters.churnOps++;
          c.busy = false;
        },
        () => {
          counters.errors++;
          c.busy = false;
        },
      );
    }
  }, 1);
}

function stop(): void {
  mode = 'idle';
  clearInterval(pumpTimer);
  clearInterval(fixedTimer);
  clearInterval(churnTimer);
}

async function drain(): Promise<void> {
  stop();
  const deadline = Date.now() + plan.lostAfterMs + 500;
  const busy = (): boolean => publishers.some((p) => p.expected > Atomics.load(shared, p.spec.key)) || churners.some((c) => c.busy);
  while (busy() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  for (const p of publishers) {
    const d = Atomics.load(shared, p.spec.key);
    if (p.expected > d) counters.lost += p.expected - d;
    p.expected = d;
  }
}

async function handle(req: LoadgenRequest): Promise<LoadgenReply> {
  switch (req.type) {
    case 'connect':
      await connect();
      return { type: 'ok', rid: req.rid };
    case 'verify':
      return { type: 'verified', rid: req.rid, missing: await verify(req.timeoutMs) };
    case 'closed':
      stop();
      mode = 'closed';
      pumpTimer = setInterval(pump, 1);
      pump();
      startChurn(req.churnPerSec);
      return { type: 'ok', rid: req.rid };
    case 'fixed':
      stop();
      mode = 'fixed';
      startFixed(req.ratePerPublisher);
      startChurn(req.churnPerSec);
      return { type: 'ok', rid: req.rid };
    case 'drain':
      await drain();
      return { type: 'ok', rid: req.rid };
    case 'snap': {
      const h = hist.export();
      hist = new Histogram();
      const loop = { p99Ms: loopDelay.percentile(99) / 1e6, maxMs: loopDelay.max / 1e6 };
      loopDelay.reset();
      return { type: 'snap', rid: req.rid, counters: { ...counters }, hist: h, loop };
    }
    case 'close':
      stop();
      clearInterval(sweepTimer);
      loopDelay.disable();
      for (const c of [...subscribers, ...publishers.map((p) => p.conn), ...churners.map((c) => c.conn)]) c.close();
      return { type: 'ok', rid: req.rid };
  }
}

port.on('message', (req: LoadgenRequest) => {
  handle(req).then(
    (reply) => port.postMessage(reply),
    (err: unknown) =>
      port.postMessage({ type: 'error', rid: req.rid, message: (err as Error).stack ?? String(err) } satisfies LoadgenReply),
  );
});
