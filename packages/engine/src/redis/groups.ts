import { nanoid } from 'nanoid';
import type { ConsumerGroups, GroupEntry, GroupLag } from '../types.js';
import type { CommandClient, GroupReply, RawEntry } from './client.js';
import { decodeEntry } from './codec.js';
import { channelKeys, groupChannelsKey, groupRegistryKey, streamGroupName } from './keys.js';
import type { Runner } from './kv.js';
import type { GroupRegistry, Registration } from './registry.js';

/**
 * Channels queried at once by read, claim and pending. Each channel is its own command (in a
 * Cluster, channels live in different slots); this many are in flight together.
 */
const WINDOW = 16;
/** Own pending entries asked of one channel at once (one script's XCLAIM takes them all as arguments). */
const MAX_OWN_PAGE = 1000;

/**
 * Consumer groups on Redis Streams. A group is registered in the hash `<prefix>groups`; every engine
 * caches the registry and passes the groups matching a channel to the append script, which creates
 * a missing stream group right before the XADD (so the group's first entry is the first one
 * appended after the registration reached that engine). Consumers find the channels through the
 * registration's discovery set and use XREADGROUP, XAUTOCLAIM, XPENDING and XACK on each channel's
 * stream, one channel per script call.
 */
export class RedisGroups implements ConsumerGroups {
  readonly #client: CommandClient;
  readonly #prefix: string;
  readonly #run: Runner;
  readonly #registry: GroupRegistry;
  /** Per stream-group name: the discovery set as last read, and its size for cheap change checks. */
  readonly #channels = new Map<string, { card: number; list: string[] }>();
  /** Per stream-group name: where the next read starts, so busy channels cannot starve the rest. */
  readonly #turn = new Map<string, number>();

  constructor(client: CommandClient, prefix: string, run: Runner, registry: GroupRegistry) {
    this.#client = client;
    this.#prefix = prefix;
    this.#run = run;
    this.#registry = registry;
  }

  async register(group: string, patterns: readonly string[]): Promise<void> {
    assertGroup(group);
    if (!Array.isArray(patterns) || !patterns.every((p) => typeof p === 'string' && p !== '')) {
      throw new TypeError('patterns must be an array of non-empty strings');
    }
    const generation = await this.#run('groups.register', () =>
      this.#client.tribGroupRegistry(
        groupRegistryKey(this.#prefix),
        'register',
        group,
        JSON.stringify(patterns),
        nanoid(10),
        this.#registry.topic,
      ),
    );
    this.#registry.applyRegistered(group, patterns, String(generation));
  }

  async unregister(group: string): Promise<void> {
    assertGroup(group);
    const generation = await this.#run('groups.unregister', () =>
      this.#client.tribGroupRegistry(groupRegistryKey(this.#prefix), 'unregister', group, '', '', this.#registry.topic),
    );
    this.#registry.applyUnregistered(group);
    if (typeof generation !== 'string') return;
    // Destroy the stream groups now rather than leave them to expire with their streams: consumers
    // on engines that have not heard of the change yet then find nothing to hand out.
    const reg = registrationOf(this.#prefix, group, generation);
    const channels = await this.#run('groups.unregister', () => this.#client.smembers(reg.channelsKey));
    await this.#each(channels, (channel) => this.#call('groups.unregister', channel, 'destroy', reg.name));
    await this.#run('groups.unregister', () => this.#client.del(reg.channelsKey));
    this.#channels.delete(reg.name);
    this.#turn.delete(reg.name);
  }

  async read(group: string, consumer: string, count: number): Promise<GroupEntry[]> {
    const reg = await this.#registry.get(group);
    const n = Math.floor(count);
    if (reg === undefined || !(n > 0)) return [];
    return this.#drain(reg, n, async (channel, want) => {
      const r = await this.#call('groups.read', channel, 'read', reg.name, consumer, want);
      if (r[0] === 0) return [];
      const [, epoch, raws, gap] = r as [1, string, RawEntry[], number];
      return raws.map((raw, i) => {
        const e: GroupEntry = { ...decodeEntry(channel, epoch, raw), deliveries: 1 };
        if (i === 0 && Number(gap) > 0) e.gapBefore = Number(gap);
        return e;
      });
    });
  }

  async ack(group: string, channel: string, offsets: number[]): Promise<void> {
    const reg = await this.#registry.get(group);
    const ids = offsets.filter((o) => Number.isSafeInteger(o) && o > 0);
    if (reg === undefined || ids.length === 0) return;
    await this.#call('groups.ack', channel, 'ack', reg.name, ...ids);
  }

  async claim(group: string, consumer: string, minIdleMs: number, count: number): Promise<GroupEntry[]> {
    const reg = await this.#registry.get(group);
    const n = Math.floor(count);
    if (reg === undefined || !(n > 0)) return [];
    const idle = Math.max(0, Math.floor(minIdleMs));
    return this.#drain(reg, n, async (channel, want) => {
      const r = await this.#call('groups.claim', channel, 'claim', reg.name, consumer, idle, want);
      if (r[0] === 0) return [];
      const [, epoch, raws, deliveries] = r as [1, string, RawEntry[], number[]];
      return raws.map((raw, i) => ({ ...decodeEntry(channel, epoch, raw), deliveries: Number(deliveries[i] ?? 1) }));
    });
  }

  async redeliver(group: string, consumer: string, count: number): Promise<GroupEntry[]> {
    const reg = await this.#registry.get(group);
    const n = Math.floor(count);
    if (reg === undefined || !(n > 0)) return [];
    // #drain asks a channel that filled its share again: XPENDING then starts after the last id it
    // returned there, or the same entries would come back twice.
    const after = new Map<string, string>();
    return this.#drain(reg, n, async (channel, want) => {
      const start = after.get(channel);
      const page = Math.min(want, MAX_OWN_PAGE);
      const r = await this.#call('groups.redeliver', channel, 'mine', reg.name, consumer, page, start === undefined ? '-' : `(${start}`);
      if (r[0] === 0) return [];
      const [, epoch, raws, deliveries, last] = r as [1, string, RawEntry[], number[], string];
      if (last !== '') after.set(channel, last);
      return raws.map((raw, i) => ({ ...decodeEntry(channel, epoch, raw), deliveries: Number(deliveries[i] ?? 1) }));
    });
  }

  async pending(group: string): Promise<number> {
    const reg = await this.#registry.get(group);
    if (reg === undefined) return 0;
    let total = 0;
    await this.#each(await this.#channelsOf(reg), async (channel) => {
      const r = await this.#call('groups.pending', channel, 'pending', reg.name);
      if (r[0] === 1) total += Number(r[1]);
    });
    return total;
  }

  async lag(group: string): Promise<GroupLag> {
    const out: GroupLag = { pending: 0, unread: 0 };
    const reg = await this.#registry.get(group);
    if (reg === undefined) return out;
    await this.#each(await this.#channelsOf(reg), async (channel) => {
      const r = await this.#call('groups.lag', channel, 'lag', reg.name);
      if (r[0] !== 1) return;
      const [, pending, unread, ...times] = r as [1, number, number, string, string];
      out.pending += Number(pending);
      out.unread += Number(unread);
      for (const t of times) {
        if (t !== '' && (out.oldestTime === undefined || Number(t) < out.oldestTime)) out.oldestTime = Number(t);
      }
    });
    return out;
  }

  /**
   * Collects up to `count` entries over the registration's channels, starting one channel further
   * each call. A window of channels is asked at once, each for an equal share of what is still
   * wanted (so the total never exceeds `count`: an entry read is pending for this consumer, and one
   * read but not returned would wait for the claim time); a channel that filled its share may have
   * more and is asked again first.
   */
  async #drain(reg: Registration, count: number, fetch: (channel: string, want: number) => Promise<GroupEntry[]>): Promise<GroupEntry[]> {
    const channels = await this.#channelsOf(reg);
    if (channels.length === 0) return [];
    const turn = (this.#turn.get(reg.name) ?? 0) % channels.length;
    this.#turn.set(reg.name, turn + 1);
    const queue = [...channels.slice(turn), ...channels.slice(0, turn)];
    const out: GroupEntry[] = [];
    while (out.length < count && queue.length > 0) {
      const remaining = count - out.length;
      const batch = queue.splice(0, Math.min(remaining, WINDOW));
      const share = Math.floor(remaining / batch.length);
      const results = await Promise.all(batch.map((channel) => fetch(channel, share)));
      const again: string[] = [];
      results.forEach((entries, i) => {
        out.push(...entries);
        if (entries.length >= share) again.push(batch[i] as string);
      });
      queue.unshift(...again);
    }
    return out;
  }

  /**
   * The registration's channels. The set only grows within a generation, so its size tells whether
   * the cached list is current: one SCARD per call, SMEMBERS only when a channel was added.
   */
  async #channelsOf(reg: Registration): Promise<string[]> {
    const card = await this.#run('groups.channels', () => this.#client.scard(reg.channelsKey));
    let c = this.#channels.get(reg.name);
    if (c === undefined || c.card !== card) {
      const list = (await this.#run('groups.channels', () => this.#client.smembers(reg.channelsKey))).sort();
      this.#channels.set(reg.name, (c = { card: list.length, list }));
    }
    return c.list;
  }

  async #each(channels: readonly string[], fn: (channel: string) => Promise<unknown>): Promise<void> {
    for (let i = 0; i < channels.length; i += WINDOW) await Promise.all(channels.slice(i, i + WINDOW).map(fn));
  }

  #call(what: string, channel: string, ...args: Array<string | number>): Promise<GroupReply> {
    const k = channelKeys(this.#prefix, channel);
    return this.#run(what, () => this.#client.tribGroup(k.stream, k.meta, ...args));
  }
}

function assertGroup(group: string): void {
  if (typeof group !== 'string' || group === '') throw new TypeError('group must be a non-empty string');
}

function registrationOf(prefix: string, group: string, generation: string): Pick<Registration, 'name' | 'channelsKey'> {
  return { name: streamGroupName(group, generation), channelsKey: groupChannelsKey(prefix, group, generation) };
}
