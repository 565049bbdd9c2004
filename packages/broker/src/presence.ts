import type { Follow, PresenceChange, PresenceRecord, StreamEngine } from '@tributary/engine';
import type { Logger } from 'pino';

/** Receives join/leave changes of a channel. */
export type PresenceSink = (change: PresenceChange) => void;

/**
 * Presence for this node: records the members of its sessions in the engine (so every node sees
 * them), refreshes them before they expire, announces joins and leaves, and relays other nodes'
 * announcements to local sessions that asked for them.
 */
export class PresenceManager {
  readonly #engine: StreamEngine;
  readonly #ttlMs: number;
  readonly #log: Logger | undefined;
  /** channel → clientId → record, for the members this node keeps alive. */
  readonly #local = new Map<string, Map<string, PresenceRecord>>();
  readonly #listeners = new Map<string, { sinks: Set<PresenceSink>; follow: Promise<Follow> }>();
  readonly #timer: NodeJS.Timeout;

  constructor(engine: StreamEngine, ttlMs: number, log: Logger | undefined) {
    this.#engine = engine;
    this.#ttlMs = ttlMs;
    this.#log = log;
    // Refresh at a third of the TTL so two missed refreshes still leave the member present.
    this.#timer = setInterval(() => void this.#refresh(), Math.max(50, Math.floor(ttlMs / 3)));
    this.#timer.unref();
  }

  async join(channel: string, member: PresenceRecord): Promise<void> {
    let members = this.#local.get(channel);
    if (members === undefined) this.#local.set(channel, (members = new Map()));
    members.set(member.clientId, member);
    if (await this.#engine.presenceAdd(channel, member, this.#ttlMs)) {
      await this.#engine.presenceNotify({ kind: 'join', channel, member });
    }
  }

  async leave(channel: string, clientId: string): Promise<void> {
    const members = this.#local.get(channel);
    const member = members?.get(clientId);
    if (members === undefined || member === undefined) return;
    members.delete(clientId);
    if (members.size === 0) this.#local.delete(channel);
    if (await this.#engine.presenceRemove(channel, clientId)) {
      await this.#engine.presenceNotify({ kind: 'leave', channel, member });
    }
  }

  /** Starts relaying `channel`'s changes to `sink`; returns the function that stops it. */
  async listen(channel: string, sink: PresenceSink): Promise<() => Promise<void>> {
    let entry = this.#listeners.get(channel);
    if (entry === undefined) {
      const sinks = new Set<PresenceSink>();
      const follow = this.#engine.followPresence(channel, (c) => {
        for (const s of sinks) s(c);
      });
      entry = { sinks, follow };
      this.#listeners.set(channel, entry);
    }
    entry.sinks.add(sink);
    await entry.follow;
    const e = entry;
    return async () => {
      e.sinks.delete(sink);
      if (e.sinks.size === 0 && this.#listeners.get(channel) === e) {
        this.#listeners.delete(channel);
        await (await e.follow).close();
      }
    };
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    const leaves: Promise<void>[] = [];
    for (const [channel, members] of this.#local) for (const id of [...members.keys()]) leaves.push(this.leave(channel, id));
    await Promise.allSettled(leaves);
    const follows = [...this.#listeners.values()];
    this.#listeners.clear();
    await Promise.allSettled(follows.map(async (l) => (await l.follow).close()));
  }

  async #refresh(): Promise<void> {
    for (const [channel, members] of this.#local) {
      for (const member of members.values()) {
        try {
          // A member that had expired (e.g. the store restarted) comes back as a fresh join.
          if (await this.#engine.presenceAdd(channel, member, this.#ttlMs)) {
            await this.#engine.presenceNotify({ kind: 'join', channel, member });
          }
        } catch (err) {
          this.#log?.warn({ err, channel }, 'presence refresh failed');
        }
      }
    }
  }
}
