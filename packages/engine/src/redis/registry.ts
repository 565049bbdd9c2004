import { compilePattern } from '@tributary/protocol';
import type { CommandClient } from './client.js';
import { groupChannelsKey, groupRegistryKey, groupRegistryTopic, streamGroupName } from './keys.js';
import type { Runner } from './kv.js';
import type { PubSub } from './pubsub.js';

/** How often every engine re-reads the registry, in case a change notice was lost. */
export const REGISTRY_REFRESH_MS = 5_000;

/**
 * Bound on the per-channel caches (which groups match a channel; which channels this engine already
 * announced). Past it a cache is dropped and rebuilt on demand: one pattern match, or one idempotent
 * SADD, per channel again.
 */
const CACHE_LIMIT = 50_000;

/** One registered group as every engine caches it. */
export interface Registration {
  group: string;
  patterns: readonly string[];
  /** Changes when the group is unregistered and registered again. */
  generation: string;
  /** The Redis Streams consumer-group name on each matching channel's stream. */
  name: string;
  /** The discovery set: channels on which this registration may exist. */
  channelsKey: string;
  match: (channel: string) => boolean;
}

const NONE: readonly string[] = [];

/**
 * This engine's copy of the consumer-group registry (the hash `<prefix>groups`), which every append
 * consults to pass the matching groups to the append script. Loaded on first use, after subscribing
 * to the change topic; re-read on every change notice, after the subscriber reconnects, and every
 * {@link REGISTRY_REFRESH_MS} in case a notice was lost. Registrations made through this engine
 * apply at once.
 */
export class GroupRegistry {
  readonly #client: CommandClient;
  readonly #prefix: string;
  readonly #run: Runner;
  readonly #pubsub: PubSub;
  #groups = new Map<string, Registration>();
  #loaded = false;
  #first: Promise<void> | undefined;
  #refreshing: Promise<void> | undefined;
  #again = false;
  /** Bumped by every local change, so a load that raced with one is redone rather than applied. */
  #changes = 0;
  #subscribed = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #matches = new Map<string, readonly Registration[]>();
  readonly #announced = new Set<string>();

  constructor(client: CommandClient, prefix: string, run: Runner, pubsub: PubSub) {
    this.#client = client;
    this.#prefix = prefix;
    this.#run = run;
    this.#pubsub = pubsub;
  }

  /** The pub/sub topic of change notices (the engine routes them to {@link refresh}). */
  get topic(): string {
    return groupRegistryTopic(this.#prefix);
  }

  /** The current registration of `group`, loading the registry on first use. */
  async get(group: string): Promise<Registration | undefined> {
    if (!this.#loaded) await this.#ensureLoaded();
    return this.#groups.get(group);
  }

  /**
   * The stream-group names to pass to the append script for `channel`. The first time this engine
   * sees a channel for a registration it adds the channel to that registration's discovery set
   * first (one SADD per group, in parallel) — before the append that creates the group, so a crash
   * in between leaves a discoverable channel without the group (harmless) rather than a group no
   * consumer can find.
   */
  async forAppend(channel: string): Promise<readonly string[]> {
    return this.forAppendNow(channel) ?? this.#forAppend(channel);
  }

  /**
   * {@link forAppend} without waiting, when nothing is to be waited for (the registry is loaded and
   * `channel` was announced to its groups): undefined otherwise. Saves an append its promises.
   */
  forAppendNow(channel: string): readonly string[] | undefined {
    if (!this.#loaded) return undefined;
    const regs = this.#matches.get(channel);
    if (regs === undefined) return undefined;
    if (regs.length === 0) return NONE;
    for (const r of regs) if (!this.#announced.has(announceKey(r, channel))) return undefined;
    return regs.map((r) => r.name);
  }

  async #forAppend(channel: string): Promise<readonly string[]> {
    if (!this.#loaded) await this.#ensureLoaded();
    let regs = this.#matches.get(channel);
    if (regs === undefined) {
      regs = [...this.#groups.values()].filter((r) => r.match(channel));
      if (this.#matches.size >= CACHE_LIMIT) this.#matches.clear();
      this.#matches.set(channel, regs);
    }
    if (regs.length === 0) return NONE;
    const fresh = regs.filter((r) => !this.#announced.has(announceKey(r, channel)));
    if (fresh.length > 0) {
      await this.#run('append', () => Promise.all(fresh.map((r) => this.#client.sadd(r.channelsKey, channel))));
      if (this.#announced.size >= CACHE_LIMIT) this.#announced.clear();
      for (const r of fresh) this.#announced.add(announceKey(r, channel));
    }
    return regs.map((r) => r.name);
  }

  /** A registration made through this engine: effective here at once. */
  applyRegistered(group: string, patterns: readonly string[], generation: string): void {
    this.#changes++;
    const next = new Map(this.#groups);
    next.set(group, registration(this.#prefix, group, patterns, generation));
    this.#replace(next);
  }

  /** An unregistration made through this engine. */
  applyUnregistered(group: string): void {
    this.#changes++;
    if (!this.#groups.has(group)) return;
    const next = new Map(this.#groups);
    next.delete(group);
    this.#replace(next);
  }

  /** Re-reads the registry; concurrent calls share one read, and a call during a read forces another. */
  refresh(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#refreshing !== undefined) {
      this.#again = true;
      return this.#refreshing;
    }
    this.#refreshing = (async () => {
      try {
        do {
          this.#again = false;
          await this.#load();
        } while (this.#again && !this.#closed);
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
  }

  async #ensureLoaded(): Promise<void> {
    this.#first ??= this.#start().catch((err: unknown) => {
      this.#first = undefined; // the next call tries again
      throw err;
    });
    await this.#first;
  }

  async #start(): Promise<void> {
    // Subscribe before reading: a change made after the read is then announced to us.
    await this.#subscribe();
    await this.refresh();
    if (this.#timer === undefined && !this.#closed) {
      this.#timer = setInterval(() => {
        if (!this.#subscribed) void this.#subscribe();
        this.refresh().catch(() => {}); // keep the last good copy until Redis answers again
      }, REGISTRY_REFRESH_MS);
      this.#timer.unref();
    }
  }

  async #subscribe(): Promise<void> {
    if (this.#subscribed || this.#closed) return;
    try {
      await this.#pubsub.acquire(this.topic);
      this.#subscribed = true;
    } catch {
      // Without notices the periodic refresh still converges; the timer retries the subscription.
    }
  }

  async #load(): Promise<void> {
    for (;;) {
      const changes = this.#changes;
      const raw = await this.#run('groups.load', () => this.#client.hgetall(groupRegistryKey(this.#prefix)));
      // A local register/unregister while the read was in flight: the read may predate it.
      if (changes !== this.#changes) continue;
      const next = new Map<string, Registration>();
      for (const [group, value] of Object.entries(raw)) {
        const r = parseRegistration(this.#prefix, group, value);
        if (r !== undefined) next.set(group, r);
      }
      this.#replace(next);
      this.#loaded = true;
      return;
    }
  }

  #replace(next: Map<string, Registration>): void {
    const same =
      next.size === this.#groups.size &&
      [...next].every(([g, r]) => {
        const cur = this.#groups.get(g);
        return cur !== undefined && cur.name === r.name && cur.patterns.join(' ') === r.patterns.join(' ');
      });
    if (same) return;
    this.#groups = next;
    this.#matches.clear();
  }
}

function announceKey(r: Registration, channel: string): string {
  return `${r.name}\n${channel}`;
}

function registration(prefix: string, group: string, patterns: readonly string[], generation: string): Registration {
  const matchers = patterns.map(compilePattern);
  return {
    group,
    patterns: [...patterns],
    generation,
    name: streamGroupName(group, generation),
    channelsKey: groupChannelsKey(prefix, group, generation),
    match: (channel) => matchers.some((m) => m(channel)),
  };
}

/** A registry hash value, `<generation> <patterns JSON>`; undefined (ignored) when malformed. */
function parseRegistration(prefix: string, group: string, value: string): Registration | undefined {
  const sp = value.indexOf(' ');
  if (sp <= 0) return undefined;
  try {
    const patterns: unknown = JSON.parse(value.slice(sp + 1));
    if (!Array.isArray(patterns) || !patterns.every((p) => typeof p === 'string')) return undefined;
    return registration(prefix, group, patterns as string[], value.slice(0, sp));
  } catch {
    return undefined;
  }
}
