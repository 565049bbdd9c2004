import type { JsonValue, MessageFrame, StreamPosition } from '@tributary/protocol/wire';
import type { Message, SubscribeOptions, Subscription } from './types.js';

/** The client-side state of one subscription; the client drives it, users see {@link Subscription}. */
export class ClientSubscription implements Subscription {
  readonly channel: string;
  readonly pattern: boolean;
  readonly handler: (msg: Message<never>) => unknown;
  readonly options: SubscribeOptions;
  /** 'pending': not confirmed on the current connection; 'active': confirmed; 'closed': over. */
  state: 'pending' | 'active' | 'closed' = 'pending';
  /** Id of the subscribe request in flight on the current connection. */
  requestId: number | undefined;
  /** True once the broker confirmed it at least once (later confirmations are re-subscribes). */
  confirmed = false;
  /** Consecutive transient re-subscribe failures, for backoff. */
  retries = 0;
  retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Settles the caller's `subscribe()` promise on the first confirmation (or refusal). */
  ready: { resolve(): void; reject(err: unknown): void } | undefined;
  #position: StreamPosition | undefined;
  readonly #unsubscribe: (sub: ClientSubscription) => Promise<void>;

  constructor(
    channel: string,
    pattern: boolean,
    handler: (msg: Message<never>) => unknown,
    options: SubscribeOptions,
    unsubscribe: (sub: ClientSubscription) => Promise<void>,
  ) {
    this.channel = channel;
    this.pattern = pattern;
    this.handler = handler;
    this.options = options;
    this.#position = options.since === undefined ? undefined : { ...options.since };
    this.#unsubscribe = unsubscribe;
  }

  get position(): StreamPosition | undefined {
    return this.#position === undefined ? undefined : { ...this.#position };
  }

  get active(): boolean {
    return this.state === 'active';
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  unsubscribe(): Promise<void> {
    return this.#unsubscribe(this);
  }

  /** Where a re-subscribe resumes from: patterns never resume (the broker refuses `since`). */
  resumeFrom(): StreamPosition | undefined {
    return this.pattern ? undefined : this.#position;
  }

  /** Moves the position (after a `subscribed` reply that starts delivery somewhere else). */
  setPosition(position: StreamPosition): void {
    if (!this.pattern) this.#position = { ...position };
  }

  /**
   * Turns a frame into a message to deliver, or `undefined` when it was already delivered. The
   * broker already guarantees no duplicate across a resume; this guard keeps that promise even if a
   * frame is repeated, and it is what makes `position` exact.
   */
  accept(frame: MessageFrame): Message<JsonValue> | undefined {
    if (this.state === 'closed') return undefined;
    if (!this.pattern) {
      const pos = this.#position;
      // A different epoch means the history was reset: its offsets start again and are all new.
      if (pos !== undefined && frame.epoch === pos.epoch && frame.offset <= pos.offset) return undefined;
      this.#position = { offset: frame.offset, epoch: frame.epoch };
    }
    const msg: Message<JsonValue> = {
      channel: frame.channel,
      offset: frame.offset,
      epoch: frame.epoch,
      time: frame.time,
      data: frame.data,
    };
    if (frame.msgId !== undefined) msg.msgId = frame.msgId;
    if (frame.sub !== undefined) msg.pattern = frame.sub;
    if (frame.lineage !== undefined) msg.lineage = frame.lineage;
    if (frame.traceparent !== undefined) msg.traceparent = frame.traceparent;
    return msg;
  }
}
