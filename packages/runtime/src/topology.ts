import type { StreamEngine } from '@tributary/engine';
import { compilePattern, isSystemChannel } from '@tributary/protocol';
import { groupName } from './consumer.js';
import type { BlockInfo } from './deployed.js';
import type { NormalizedTrigger } from './describe.js';
import { BlockError, BlockErrorCodes } from './errors.js';
import type { PublishFn } from './host.js';
import { RateWindow } from './rates.js';

/** Options of the runtime's {@link Topology}. */
export interface TopologyOptions {
  /** Rates are averaged over this much time, ms. @defaultValue {@link DEFAULT_TOPOLOGY_WINDOW_MS} */
  windowMs: number;
  /** A channel a block wrote stays in the graph this long after its last write, ms. @defaultValue {@link DEFAULT_TOPOLOGY_RECENT_MS} */
  recentMs: number;
  /**
   * Channels shown per block; writes to further channels count on the edge to the block's matching
   * publish grant instead. @defaultValue {@link DEFAULT_TOPOLOGY_MAX_CHANNELS}
   */
  maxChannelsPerBlock: number;
}

/** The console's channel table averages over 10 s too, so both read the same. */
export const DEFAULT_TOPOLOGY_WINDOW_MS = 10_000;
export const DEFAULT_TOPOLOGY_RECENT_MS = 300_000;
/** A block writing per-device channels (`averages.<device>`) would otherwise draw one node per device. */
export const DEFAULT_TOPOLOGY_MAX_CHANNELS = 32;
/** How often counters are sampled. */
const SAMPLE_MS = 1000;

/** Validates topology options at the boundary, naming the bad field. */
export function resolveTopologyOptions(o: Partial<TopologyOptions> = {}): TopologyOptions {
  const out: TopologyOptions = {
    windowMs: o.windowMs ?? DEFAULT_TOPOLOGY_WINDOW_MS,
    recentMs: o.recentMs ?? DEFAULT_TOPOLOGY_RECENT_MS,
    maxChannelsPerBlock: o.maxChannelsPerBlock ?? DEFAULT_TOPOLOGY_MAX_CHANNELS,
  };
  for (const [field, min] of [
    ['windowMs', SAMPLE_MS],
    ['recentMs', SAMPLE_MS],
    ['maxChannelsPerBlock', 0],
  ] as const) {
    const v = out[field];
    if (!Number.isSafeInteger(v) || v < min) {
      throw new BlockError(BlockErrorCodes.INVALID_BLOCK, `topology.${field} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    }
  }
  return out;
}

/** How far an after-publish block's consumer group is behind (from the engine, so across all nodes). */
export interface TopologyLag {
  /** Messages handed to a runner and not yet acked (running, or waiting for a retry). */
  pending: number;
  /** Messages stored and not yet handed to any runner. */
  unread: number;
  /** Age of the oldest message pending or unread, ms; absent when there is none. */
  oldestAgeMs?: number;
}

/** A node of the graph: a block, a channel, or a pattern (a name with `*` or `>`). */
export type TopologyNode =
  | {
      id: string;
      kind: 'block';
      name: string;
      version: string;
      trigger: NormalizedTrigger;
      publishes: string[];
      /** Invocations per second on this node. */
      messagesPerSecond: number;
      /** Failed invocations per second on this node (each retry counts). */
      errorsPerSecond: number;
      lag?: TopologyLag;
    }
  | { id: string; kind: 'channel' | 'pattern'; name: string };

/**
 * An edge: `trigger` (channel or pattern → block), `writes` (block → a channel it published to
 * recently, or → its grant for channels past `maxChannelsPerBlock`), `grant` (block → a channel or
 * pattern it declared in `publishes` and has not written as such), `matches` (a written channel →
 * a trigger pattern it matches).
 */
export interface TopologyEdge {
  id: string;
  from: string;
  to: string;
  kind: 'trigger' | 'writes' | 'grant' | 'matches';
  /** trigger: the block's invocations; writes and matches: messages stored. Per second, this node. */
  messagesPerSecond: number;
  /** trigger: failed invocations; writes: publishes refused. Per second, this node. */
  errorsPerSecond: number;
  /** trigger edges of after-publish blocks: the consumer group's lag. */
  lag?: TopologyLag;
}

/** `GET /v1/admin/topology`. */
export interface TopologySnapshot {
  /** When it was taken, ms since the Unix epoch. */
  time: number;
  /** The window rates are averaged over, ms. */
  windowMs: number;
  nodes: TopologyNode[];
  edges: TopologyEdge[];
}

/** What one block wrote to one channel (or, past the per-block bound, to a grant). */
interface Written {
  block: string;
  /** A channel, or the block's grant pattern its overflow counts on. */
  target: string;
  stored: number;
  refused: number;
  last: number;
  /** True when `target` is a grant counting writes past `maxChannelsPerBlock`. */
  folded: boolean;
}

/** A block's `publishes` and their compiled matchers. */
interface Grants {
  publishes: readonly string[];
  matchers: Array<(channel: string) => boolean>;
}

/** `block:x`, `channel:a.b`, `pattern:a.*`: one id space, so a grant that names a trigger's pattern is that same node. */
function nodeId(name: string): string {
  return name.includes('*') || name.includes('>') ? `pattern:${name}` : `channel:${name}`;
}

/**
 * What the blocks runtime knows of the pipeline: each block's triggers and declared grants, the
 * channels it wrote recently (counted as its publishes go through {@link count}), rates over a
 * sliding window and each after-publish block's consumer lag. Rates are this node's; lag is the
 * group's, over every node.
 */
export class Topology {
  readonly #o: TopologyOptions;
  readonly #engine: StreamEngine;
  readonly #blocks: () => BlockInfo[];
  readonly #rates: RateWindow;
  /** By `<block>\n<target>`. */
  readonly #written = new Map<string, Written>();
  /** Channels shown (not folded) per block: what `#written` holds for it, kept as a count. */
  readonly #shown = new Map<string, number>();
  /**
   * Each block's grants, compiled, as of the last sample: folding a write onto its grant must not
   * list the blocks (every block's stats, p99 sorted) per publish. Keyed by the `publishes` array,
   * which is one per deployed version.
   */
  #grants = new Map<string, Grants>();
  readonly #timer: NodeJS.Timeout;

  constructor(engine: StreamEngine, blocks: () => BlockInfo[], options?: Partial<TopologyOptions>) {
    this.#o = resolveTopologyOptions(options);
    this.#engine = engine;
    this.#blocks = blocks;
    this.#rates = new RateWindow(this.#o.windowMs);
    this.#timer = setInterval(() => this.#sample(Date.now()), SAMPLE_MS);
    this.#timer.unref();
  }

  /**
   * Wraps the blocks' publish function to count, per block, what each wrote where. System channels
   * (`$logs.*`, `$dlq.*`) are left out: every block writes them, and its stats and dead letters say
   * more than an edge would.
   */
  count(publish: PublishFn): PublishFn {
    return async (channel, data, options) => {
      if (isSystemChannel(channel)) return publish(channel, data, options);
      const w = this.#writtenFor(options.block, channel);
      try {
        const r = await publish(channel, data, options);
        w.stored++;
        return r;
      } catch (err) {
        w.refused++;
        throw err;
      } finally {
        w.last = Date.now();
      }
    };
  }

  /** The graph as of now. */
  async snapshot(): Promise<TopologySnapshot> {
    const now = Date.now();
    const blocks = this.#blocks();
    const nodes = new Map<string, TopologyNode>();
    const edges = new Map<string, TopologyEdge>();
    const named = (name: string): string => {
      const id = nodeId(name);
      if (!nodes.has(id)) nodes.set(id, { id, kind: id.startsWith('pattern:') ? 'pattern' : 'channel', name });
      return id;
    };
    const edge = (e: Omit<TopologyEdge, 'id'>): TopologyEdge => {
      const id = `${e.kind}:${e.from}->${e.to}`;
      const had = edges.get(id);
      if (had !== undefined) {
        had.messagesPerSecond += e.messagesPerSecond;
        had.errorsPerSecond += e.errorsPerSecond;
        return had;
      }
      const made = { id, ...e };
      edges.set(id, made);
      return made;
    };
    const lags = await Promise.all(blocks.map((b) => (b.trigger.kind === 'afterPublish' ? this.#lag(b.name, now) : undefined)));
    blocks.forEach((b, i) => {
      const key = statsKey(b);
      this.#rates.start(`${key}\ninvocations`, b.deployedAt);
      this.#rates.start(`${key}\nerrors`, b.deployedAt);
      const messagesPerSecond = this.#rates.rate(`${key}\ninvocations`, b.stats.invocations);
      const errorsPerSecond = this.#rates.rate(`${key}\nerrors`, b.stats.errors);
      const id = `block:${b.name}`;
      const lag = lags[i];
      nodes.set(id, {
        id,
        kind: 'block',
        name: b.name,
        version: b.version,
        trigger: b.trigger,
        publishes: b.publishes,
        messagesPerSecond,
        errorsPerSecond,
        ...(lag === undefined ? {} : { lag }),
      });
      if (b.trigger.kind === 'afterPublish' || b.trigger.kind === 'beforePublish') {
        // The runtime counts invocations per block, not per pattern: with several trigger patterns,
        // each trigger edge shows the block's total (docs/OPERATIONS.md, Topology).
        for (const p of b.trigger.patterns) {
          edge({ from: named(p), to: id, kind: 'trigger', messagesPerSecond, errorsPerSecond, ...(lag === undefined ? {} : { lag }) });
        }
      }
    });
    const deployed = new Set(blocks.map((b) => b.name));
    const triggers = [...new Set(blocks.flatMap((b) => ('patterns' in b.trigger ? b.trigger.patterns : [])))]
      .filter((p) => nodeId(p).startsWith('pattern:'))
      .map((p) => ({ p, match: compilePattern(p) }));
    for (const [key, w] of this.#written) {
      if (!deployed.has(w.block)) continue;
      const stored = this.#rates.rate(`${key}\nstored`, w.stored);
      const refused = this.#rates.rate(`${key}\nrefused`, w.refused);
      const to = named(w.target);
      edge({ from: `block:${w.block}`, to, kind: 'writes', messagesPerSecond: stored, errorsPerSecond: refused });
      if (to.startsWith('channel:')) {
        for (const t of triggers) {
          if (t.match(w.target)) edge({ from: to, to: named(t.p), kind: 'matches', messagesPerSecond: stored, errorsPerSecond: 0 });
        }
      }
    }
    for (const b of blocks) {
      for (const g of b.publishes) {
        const to = named(g);
        if (!edges.has(`writes:block:${b.name}->${to}`))
          edge({ from: `block:${b.name}`, to, kind: 'grant', messagesPerSecond: 0, errorsPerSecond: 0 });
      }
    }
    return { time: now, windowMs: this.#o.windowMs, nodes: [...nodes.values()], edges: [...edges.values()] };
  }

  /**
   * The channels `block` wrote in the last `recentMs`, without building a snapshot (no engine calls).
   * Only the first `maxChannelsPerBlock` are named; `folded` lists the grants further writes counted
   * on, so a caller can tell the list is not complete.
   */
  written(block: string): { channels: string[]; folded: string[] } {
    const out = { channels: [] as string[], folded: [] as string[] };
    for (const w of this.#written.values()) if (w.block === block) (w.folded ? out.folded : out.channels).push(w.target);
    return out;
  }

  /** Stops the sampler. */
  close(): void {
    clearInterval(this.#timer);
  }

  async #lag(block: string, now: number): Promise<TopologyLag> {
    const l = await this.#engine.groups.lag(groupName(block));
    return {
      pending: l.pending,
      unread: l.unread,
      ...(l.oldestTime === undefined ? {} : { oldestAgeMs: Math.max(0, now - l.oldestTime) }),
    };
  }

  /** The counters of `block`'s writes to `channel`, or to its grant once it wrote `maxChannelsPerBlock` channels. */
  #writtenFor(block: string, channel: string): Written {
    let key = `${block}\n${channel}`;
    let w = this.#written.get(key);
    if (w !== undefined) return w;
    let target = channel;
    if ((this.#shown.get(block) ?? 0) >= this.#o.maxChannelsPerBlock) {
      // A block deployed since the last sample is not known yet: list once, then from the cache.
      if (!this.#grants.has(block)) this.#learnGrants(this.#blocks());
      const g = this.#grants.get(block);
      const i = g?.matchers.findIndex((m) => m(channel)) ?? -1;
      target = i < 0 ? channel : (g?.publishes[i] as string);
      key = `${block}\n${target}`;
      w = this.#written.get(key);
      if (w !== undefined) return w;
    }
    const now = Date.now();
    w = { block, target, stored: 0, refused: 0, last: now, folded: target !== channel };
    this.#written.set(key, w);
    if (!w.folded) this.#shown.set(block, (this.#shown.get(block) ?? 0) + 1);
    this.#rates.start(`${key}\nstored`, now);
    this.#rates.start(`${key}\nrefused`, now);
    return w;
  }

  /** Remembers each block's grants, compiled once per deployed version. */
  #learnGrants(blocks: readonly BlockInfo[]): void {
    const next = new Map<string, Grants>();
    for (const b of blocks) {
      const had = this.#grants.get(b.name);
      next.set(
        b.name,
        had?.publishes === b.publishes ? had : { publishes: b.publishes, matchers: b.publishes.map((g) => compilePattern(g)) },
      );
    }
    this.#grants = next;
  }

  #sample(now: number): void {
    const values = new Map<string, number>();
    const live = new Set<string>();
    const blocks = this.#blocks();
    this.#learnGrants(blocks);
    for (const b of blocks) {
      const key = statsKey(b);
      // From the deploy on: a block's first invocations count even before this sampler saw it.
      this.#rates.start(`${key}\ninvocations`, b.deployedAt);
      this.#rates.start(`${key}\nerrors`, b.deployedAt);
      values.set(`${key}\ninvocations`, b.stats.invocations);
      values.set(`${key}\nerrors`, b.stats.errors);
    }
    for (const [key, w] of this.#written) {
      if (now - w.last > this.#o.recentMs) {
        this.#written.delete(key);
        if (!w.folded) this.#shown.set(w.block, (this.#shown.get(w.block) ?? 1) - 1);
        continue;
      }
      values.set(`${key}\nstored`, w.stored);
      values.set(`${key}\nrefused`, w.refused);
    }
    for (const k of values.keys()) live.add(k);
    this.#rates.sample(now, values);
    this.#rates.retain((k) => live.has(k));
  }
}

/** Stats are per version (a redeploy starts them at 0), so their rates are too. */
function statsKey(b: BlockInfo): string {
  return `${b.name}@${b.version}`;
}
