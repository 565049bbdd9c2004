import type { Entry, Follow, StreamEngine } from '@tributary/engine';
import { decodeEnvelope, type Envelope } from '@tributary/protocol';

/** Something that receives a channel's (or pattern's) entries: one subscription of one session. */
export interface HubTarget {
  /**
   * `frame` is the `message` frame as WebSocket wire bytes ({@link encodeMessage}), shared by every
   * target of the same key. `restricted` is set for a message with lineage: the same frame without
   * it, for a target that may not read the lineage's parent channel.
   */
  push(entry: Entry, frame: Buffer, restricted?: RestrictedFrame): void;
}

/** A message frame without its lineage, for receivers that may not read `parent` (see {@link encodeFrames}). */
export interface RestrictedFrame {
  readonly parent: string;
  readonly frame: Buffer;
}

interface KeyState {
  targets: Set<HubTarget>;
  follow: Follow | undefined;
}

/**
 * Fan-out: one engine follow per channel or pattern that has local subscribers, however many there
 * are, and one encoding per message, whose bytes every subscriber socket is given as they are.
 * Joins and leaves of one key are serialised so a follow is never opened twice or closed under a
 * new subscriber.
 */
export class Hub {
  readonly #engine: StreamEngine;
  readonly #keys = new Map<string, KeyState>();
  readonly #locks = new Map<string, Promise<void>>();
  #deliveries = 0;

  readonly #onDispatch: ((entry: Entry) => void) | undefined;

  /** `onDispatch` is called once per entry fanned out (metrics). */
  constructor(engine: StreamEngine, onDispatch?: (entry: Entry) => void) {
    this.#engine = engine;
    this.#onDispatch = onDispatch;
  }

  /** Messages written to subscriber sockets so far (for metrics and benchmarks). */
  get deliveries(): number {
    return this.#deliveries;
  }

  /** Channels and patterns with local subscribers. */
  get size(): number {
    return this.#keys.size;
  }

  /** Local subscriptions per channel or pattern key (for the admin API). */
  subscriberCounts(): Array<[key: string, subscribers: number]> {
    return [...this.#keys].map(([key, s]) => [key, s.targets.size]);
  }

  /** Adds `target` to `key` (a channel, or a pattern when `pattern`); resolves once it is live. */
  join(key: string, pattern: boolean, target: HubTarget): Promise<void> {
    return this.#serial(key, async () => {
      let state = this.#keys.get(key);
      if (state === undefined) {
        state = { targets: new Set(), follow: undefined };
        const s = state;
        const listener = (entry: Entry): void => this.#dispatch(s, entry, pattern ? key : undefined);
        s.follow = pattern ? await this.#engine.followPattern(key, listener) : await this.#engine.follow(key, listener);
        this.#keys.set(key, s);
      }
      state.targets.add(target);
    });
  }

  /** Removes `target`; the engine follow closes with the last one. */
  leave(key: string, target: HubTarget): Promise<void> {
    return this.#serial(key, async () => {
      const state = this.#keys.get(key);
      if (state === undefined || !state.targets.delete(target)) return;
      if (state.targets.size === 0) {
        this.#keys.delete(key);
        await state.follow?.close();
      }
    });
  }

  /** Closes every follow. */
  async close(): Promise<void> {
    const states = [...this.#keys.values()];
    this.#keys.clear();
    await Promise.allSettled(states.map((s) => s.follow?.close()));
  }

  #dispatch(state: KeyState, entry: Entry, sub: string | undefined): void {
    if (state.targets.size === 0) return;
    const { frame, restricted } = encodeFrames(entry, sub);
    for (const t of state.targets) t.push(entry, frame, restricted);
    this.#deliveries += state.targets.size;
    this.#onDispatch?.(entry);
  }

  #serial(key: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.#locks.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.#locks.set(key, tail);
    void tail.then(() => {
      if (this.#locks.get(key) === tail) this.#locks.delete(key);
    });
    return next;
  }
}

/**
 * The frames of one message: with its envelope (lineage, traceparent), and, when it has lineage,
 * without the lineage for receivers whose grants do not let them read the parent channel. Two
 * encodings at most, never one per receiver: which one a receiver gets is its own check.
 */
export function encodeFrames(entry: Entry, sub?: string): { frame: Buffer; restricted?: RestrictedFrame } {
  if (entry.meta === undefined) return { frame: encodeMessage(entry, sub) };
  const envelope = decodeEnvelope(entry.meta);
  const frame = encodeMessage(entry, sub, envelope);
  if (envelope.lineage === undefined) return { frame };
  const rest: Envelope = envelope.traceparent === undefined ? {} : { traceparent: envelope.traceparent };
  // Encoded on first use: when every receiver may read the parent (operators, the pipeline's own
  // readers), the second encoding never happens.
  let plain: Buffer | undefined;
  return {
    frame,
    restricted: {
      parent: envelope.lineage.channel,
      get frame() {
        plain ??= encodeMessage(entry, sub, rest);
        return plain;
      },
    },
  };
}

/**
 * Encodes a `message` frame as the exact bytes of an unmasked, uncompressed WebSocket text frame
 * (RFC 6455 §5.2): server-to-client frames carry no mask, so the same bytes are valid on every
 * connection and fan-out writes them as they are, without a per-subscriber header (gorilla's
 * PreparedMessage, uWebSockets' publish). The JSON is spliced around the stored payload without
 * parsing it: the payload was produced by JSON.stringify on the publish path.
 */
export function encodeMessage(e: Entry, sub?: string, envelope?: Envelope): Buffer {
  let s = `{"type":"message","channel":${JSON.stringify(e.channel)},"offset":${e.offset},"epoch":${JSON.stringify(e.epoch)},"time":${e.time},"data":${e.payload}`;
  if (e.msgId !== undefined) s += `,"msgId":${JSON.stringify(e.msgId)}`;
  if (sub !== undefined) s += `,"sub":${JSON.stringify(sub)}`;
  if (envelope?.lineage !== undefined) s += `,"lineage":${JSON.stringify(envelope.lineage)}`;
  if (envelope?.traceparent !== undefined) s += `,"traceparent":${JSON.stringify(envelope.traceparent)}`;
  s += '}';
  return textFrame(s);
}

/**
 * `text` as the bytes of one unmasked, uncompressed, final WebSocket text frame (RFC 6455 §5.2), as
 * ws would frame it, in one buffer: the socket then takes one chunk per frame rather than ws's
 * header and payload as two.
 */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const head = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + length);
  frame[0] = 0x81; // FIN, text
  if (head === 2) {
    frame[1] = length;
  } else if (head === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  frame.write(text, head, 'utf8');
  return frame;
}
