/**
 * A load generator in several worker threads (issue 21 item 6: the load generator must not be the
 * limit). Each thread (lib/loadgen-worker.ts) holds a slice of a shape's connections; this side
 * splits the plan, sends the same command to every thread and sums what they measured. Threads, not
 * processes, because a closed-loop window spans threads (a publisher in one, its subscribers in
 * others) and a SharedArrayBuffer of counters is the cheapest way to share it. The load
 * generator's CPU is this process's (process.cpuUsage counts every thread).
 */
import { Worker } from 'node:worker_threads';
import { Histogram, type HistogramData } from './hist.js';
import type { ClientKind } from './shape-clients.js';

/** Connections that subscribe and receive. */
export interface SubscriberSpec {
  /** Index into the deployment's node URLs. */
  node: number;
  /** Channels or patterns, each subscribed on this one connection. */
  channels: string[];
  presence: boolean;
  /** Whether its deliveries count toward the publishers' closed-loop windows (and `lost`). */
  window: boolean;
}

/** A publisher connection: publishes round-robin over `channels`. */
export interface PublisherSpec {
  /** Unique in the plan; indexes the shared delivery counters. */
  key: number;
  node: number;
  channels: string[];
  /** Windowed deliveries one message to `channels[i]` produces. */
  expected: number[];
  /** Closed loop: messages in flight (not yet delivered to every windowed subscriber). */
  window: number;
}

/** A connection that joins and leaves `rooms` with presence, one after the other. */
export interface ChurnerSpec {
  node: number;
  rooms: string[];
}

/** What one load-generator thread runs. */
export interface LoadgenPlan {
  client: ClientKind;
  urls: string[];
  subscribers: SubscriberSpec[];
  publishers: PublisherSpec[];
  churners: ChurnerSpec[];
  payloadBytes: number;
  lostAfterMs: number;
  /** Every n-th join of a churner is followed by a presence query. */
  presenceQueryEvery: number;
}

export interface WorkerData {
  plan: LoadgenPlan;
  shared: SharedArrayBuffer;
}

/** Running totals of one thread (or, summed, of all). */
export interface WorkerCounters {
  published: number;
  /** Messages received by any connection (presence frames not included). */
  delivered: number;
  /** join/leave frames received. */
  presenceEvents: number;
  /** Churn joins and leaves completed. */
  churnOps: number;
  presenceQueries: number;
  /** Windowed deliveries given up on after lostAfterMs. */
  lost: number;
  errors: number;
}

/** A thread's event-loop delay since its previous snap (perf_hooks.monitorEventLoopDelay), ms. */
export interface LoopDelay {
  p99Ms: number;
  maxMs: number;
}

export type LoadgenRequest =
  | { type: 'connect'; rid: number }
  | { type: 'verify'; rid: number; timeoutMs: number }
  | { type: 'closed'; rid: number; churnPerSec: number }
  | { type: 'fixed'; rid: number; ratePerPublisher: number; churnPerSec: number }
  | { type: 'drain'; rid: number }
  | { type: 'snap'; rid: number }
  | { type: 'close'; rid: number };

export type LoadgenReply =
  | { type: 'ok'; rid: number }
  | { type: 'verified'; rid: number; missing: number }
  | { type: 'snap'; rid: number; counters: WorkerCounters; hist: HistogramData; loop: LoopDelay }
  | { type: 'error'; rid: number; message: string };

/** Deals `items` out to `n` threads in turn. */
export function deal<T>(items: readonly T[], n: number): T[][] {
  const out: T[][] = Array.from({ length: n }, () => []);
  items.forEach((x, i) => out[i % n]?.push(x));
  return out;
}

export const ZERO_COUNTERS: WorkerCounters = {
  published: 0,
  delivered: 0,
  presenceEvents: 0,
  churnOps: 0,
  presenceQueries: 0,
  lost: 0,
  errors: 0,
};

export function addCounters(a: WorkerCounters, b: WorkerCounters): WorkerCounters {
  const out = { ...a };
  for (const k of Object.keys(out) as Array<keyof WorkerCounters>) out[k] += b[k];
  return out;
}

/** A request before its id is assigned (Omit distributed over the union). */
type WithoutRid<R> = R extends unknown ? Omit<R, 'rid'> : never;

type ReplyOf<T extends LoadgenReply['type']> = Extract<LoadgenReply, { type: T }>;

export class Loadgen {
  readonly threads: number;
  readonly #workers: Worker[];
  readonly #pending = new Map<number, (r: LoadgenReply) => void>();
  readonly #publishers: number;
  #rid = 0;

  /**
   * Starts `threads` workers, dealing subscribers, publishers and churners out in turn (so each
   * thread gets a share of every node's connections and of every publisher kind).
   */
  constructor(base: Omit<LoadgenPlan, 'subscribers' | 'publishers' | 'churners'>, all: ShapeConnections, threads: number) {
    this.threads = threads;
    this.#publishers = all.publishers.length;
    const keys = Math.max(0, ...all.publishers.map((p) => p.key)) + 1;
    const shared = new SharedArrayBuffer(4 * keys);
    const subs = deal(all.subscribers, threads);
    const pubs = deal(all.publishers, threads);
    const churn = deal(all.churners, threads);
    const entry = new URL('./loadgen-worker.ts', import.meta.url).href;
    // Worker threads do not inherit `--import tsx`: register tsx's loader, then load the worker.
    const tsx = import.meta.resolve('tsx/esm/api');
    const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
    this.#workers = Array.from({ length: threads }, (_, i) => {
      const plan: LoadgenPlan = { ...base, subscribers: subs[i] ?? [], publishers: pubs[i] ?? [], churners: churn[i] ?? [] };
      const w = new Worker(boot, { eval: true, workerData: { plan, shared } satisfies WorkerData });
      w.on('message', (r: LoadgenReply) => {
        const done = this.#pending.get(r.rid);
        this.#pending.delete(r.rid);
        done?.(r);
      });
      w.on('error', (err) => process.stderr.write(`loadgen thread ${i}: ${err.stack ?? String(err)}\n`));
      return w;
    });
  }

  async #all<T extends LoadgenReply['type']>(req: WithoutRid<LoadgenRequest>, type: T): Promise<Array<ReplyOf<T>>> {
    return Promise.all(
      this.#workers.map(
        (w) =>
          new Promise<ReplyOf<T>>((resolve, reject) => {
            const rid = ++this.#rid;
            this.#pending.set(rid, (r) => {
              if (r.type === type) resolve(r as ReplyOf<T>);
              else reject(new Error(r.type === 'error' ? r.message : `unexpected ${r.type}`));
            });
            w.postMessage({ ...req, rid });
          }),
      ),
    );
  }

  /** Opens every connection and makes every subscription (confirmed by the system). */
  async connect(): Promise<void> {
    await this.#all({ type: 'connect' }, 'ok');
  }

  /** One message per publisher channel; resolves with the windowed deliveries still missing after `timeoutMs`. */
  async verify(timeoutMs: number): Promise<number> {
    return (await this.#all({ type: 'verify', timeoutMs }, 'verified')).reduce((s, r) => s + r.missing, 0);
  }

  async closedLoop(churnPerSec: number): Promise<void> {
    await this.#all({ type: 'closed', churnPerSec: churnPerSec / this.threads }, 'ok');
  }

  /** Open loop: `msgsPerSec` over all publishers, each publishing an equal share. */
  async fixedRate(msgsPerSec: number, churnPerSec: number): Promise<void> {
    await this.#all({ type: 'fixed', ratePerPublisher: msgsPerSec / this.#publishers, churnPerSec: churnPerSec / this.threads }, 'ok');
  }

  /** Stops publishing and churning; waits for what is in flight (or counts it lost). */
  async drain(): Promise<void> {
    await this.#all({ type: 'drain' }, 'ok');
  }

  /** Every thread's totals summed, and the latencies recorded since the previous snap. */
  /** The loop delay is the worst thread's: the slowest thread is the one that would limit. */
  async snap(): Promise<{ counters: WorkerCounters; hist: Histogram; loop: LoopDelay }> {
    const replies = await this.#all({ type: 'snap' }, 'snap');
    const hist = new Histogram();
    let counters = ZERO_COUNTERS;
    const loop: LoopDelay = { p99Ms: 0, maxMs: 0 };
    for (const r of replies) {
      hist.merge(r.hist);
      counters = addCounters(counters, r.counters);
      loop.p99Ms = Math.max(loop.p99Ms, r.loop.p99Ms);
      loop.maxMs = Math.max(loop.maxMs, r.loop.maxMs);
    }
    return { counters, hist, loop };
  }

  async close(): Promise<void> {
    await Promise.race([this.#all({ type: 'close' }, 'ok'), new Promise((r) => setTimeout(r, 3000))]).catch(() => {});
    // Let close frames go out before the threads die.
    await new Promise((r) => setTimeout(r, 200));
    await Promise.allSettled(this.#workers.map((w) => w.terminate()));
  }
}

/** The connections of a whole plan, before they are dealt out. */
export interface ShapeConnections {
  subscribers: SubscriberSpec[];
  publishers: PublisherSpec[];
  churners: ChurnerSpec[];
}
