import {
  ErrorCodes,
  isPattern,
  isTributaryError,
  TributaryError,
  type JsonValue,
  type MessageFrame,
  type PresenceEventFrame,
  type ServerFrame,
  type SubscribeFrame,
} from '@tributary/protocol/wire';
import { backoffDelay, defaultReconnect } from './backoff.js';
import { errorFromFrame } from './connection.js';
import type { TypedEmitter } from './emitter.js';
import { checkChannel } from './errors.js';
import type { ResolvedClientOptions } from './options.js';
import type { RequestQueue } from './requests.js';
import { ClientSubscription } from './subscription.js';
import type { ClientEvents, Message, PresenceEvent, RecoveryInfo, SubscribeOptions, Subscription } from './types.js';

/** Re-subscribe refusals worth retrying on the same connection: the broker may succeed later. */
const TRANSIENT = new Set<string>([ErrorCodes.UNAVAILABLE, ErrorCodes.RATE_LIMITED, ErrorCodes.INTERNAL, ErrorCodes.TIMEOUT]);

/**
 * The client's subscriptions: subscribing, delivery, and re-subscribing on every new connection
 * from the last position delivered, with the recovery report that goes with it.
 */
export class Subscriptions {
  readonly #subs = new Map<string, ClientSubscription>();
  readonly #requests: RequestQueue;
  readonly #events: TypedEmitter<ClientEvents>;
  readonly #opts: ResolvedClientOptions;
  /** True while there is a welcomed connection to send on. */
  readonly #connected: () => boolean;

  constructor(requests: RequestQueue, events: TypedEmitter<ClientEvents>, opts: ResolvedClientOptions, connected: () => boolean) {
    this.#requests = requests;
    this.#events = events;
    this.#opts = opts;
    this.#connected = connected;
  }

  /** `TributaryClient.subscribe()` once the client is known not to be closed: checks, then subscribes. */
  subscribe<T = JsonValue>(
    channel: string,
    handler: (msg: Message<T>) => void | Promise<void>,
    options: SubscribeOptions,
  ): Promise<Subscription> {
    if (typeof handler !== 'function') return Promise.reject(new TypeError('handler must be a function'));
    const bad = checkChannel(channel, true);
    if (bad !== undefined) return Promise.reject(bad);
    const pattern = isPattern(channel);
    if (pattern && options.since !== undefined) {
      return Promise.reject(
        new TributaryError(ErrorCodes.INVALID_FRAME, 'since is not supported for patterns (they are live-only)', { channel }),
      );
    }
    const since = options.since;
    if (since !== undefined && (!Number.isSafeInteger(since.offset) || since.offset < 0 || typeof since.epoch !== 'string')) {
      return Promise.reject(
        new TributaryError(ErrorCodes.INVALID_FRAME, 'since must be { offset: integer ≥ 0, epoch: string }', { channel }),
      );
    }
    if (this.#subs.has(channel)) {
      return Promise.reject(new TributaryError(ErrorCodes.ALREADY_SUBSCRIBED, `already subscribed to ${channel}`, { channel }));
    }
    const sub = new ClientSubscription(channel, pattern, handler as (msg: Message<never>) => unknown, options, (s) => this.#unsubscribe(s));
    this.#subs.set(channel, sub);
    return new Promise<Subscription>((resolve, reject) => {
      const timer = setTimeout(() => {
        sub.ready = undefined;
        reject(new TributaryError(ErrorCodes.TIMEOUT, `subscribe to ${channel} timed out`, { channel }));
        this.#unsubscribe(sub).catch(() => {});
      }, this.#opts.requestTimeoutMs);
      sub.ready = {
        resolve: () => {
          clearTimeout(timer);
          resolve(sub);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      if (this.#connected()) this.#send(sub);
    });
  }

  /** Re-subscribes everything on the connection just welcomed. */
  resubscribeAll(): void {
    for (const sub of this.#subs.values()) {
      clearTimeout(sub.retryTimer);
      sub.retryTimer = undefined;
      this.#send(sub);
    }
  }

  /** After a drop: nothing is confirmed on the next connection until it re-subscribes. */
  markPending(): void {
    for (const sub of this.#subs.values()) {
      sub.state = 'pending';
      sub.requestId = undefined;
    }
  }

  /** Ends every subscription; pending `subscribe()` calls reject with `err`. */
  endAll(err: TributaryError): void {
    for (const sub of this.#subs.values()) this.#end(sub, err);
    this.#subs.clear();
  }

  /** Delivers a message frame to its subscription (a pattern's frames name it in `sub`). */
  onMessage(frame: MessageFrame): void {
    const sub = this.#subs.get(frame.sub ?? frame.channel);
    const msg = sub?.accept(frame);
    if (sub !== undefined && msg !== undefined) this.#deliver(sub, msg);
  }

  /** Reports a join or leave to the subscription's `onPresence` and as a `presence` event. */
  onPresence(frame: PresenceEventFrame): void {
    const event: PresenceEvent = { type: frame.type, channel: frame.channel, member: frame.member };
    const onPresence = this.#subs.get(frame.channel)?.options.onPresence;
    if (onPresence !== undefined) this.#callUser(() => onPresence(event), frame.channel, 'onPresence');
    this.#events.emit('presence', event);
  }

  #send(sub: ClientSubscription): void {
    if (!this.#connected() || sub.state === 'closed') return;
    const id = this.#requests.nextId();
    const since = sub.resumeFrom();
    const frame: SubscribeFrame = { type: 'subscribe', id, channel: sub.channel };
    if (since !== undefined) frame.since = since;
    if (sub.options.presence === true) frame.presence = true;
    sub.requestId = id;
    this.#requests.transmit({
      id,
      text: JSON.stringify(frame),
      channel: sub.channel,
      resend: false,
      payloadBytes: undefined,
      settle: (reply) => this.#onReply(sub, id, reply, since !== undefined),
    });
  }

  #onReply(sub: ClientSubscription, id: number, reply: ServerFrame | TributaryError, hadSince: boolean): void {
    if (sub.requestId !== id || sub.state === 'closed') return;
    sub.requestId = undefined;
    // The connection dropped first: the next connection re-subscribes.
    if (reply instanceof TributaryError) return;
    if (reply.type === 'error') {
      const err = errorFromFrame(reply);
      if (!sub.confirmed) {
        this.#end(sub, err);
        return;
      }
      if (TRANSIENT.has(err.code)) {
        this.#events.emit('error', err);
        const delay = backoffDelay(sub.retries++, this.#opts.reconnect || defaultReconnect());
        sub.retryTimer = setTimeout(() => {
          sub.retryTimer = undefined;
          if (sub.state === 'pending' && sub.requestId === undefined) this.#send(sub);
        }, delay);
        return;
      }
      // Refused for good (e.g. the new token lacks the grant): end it and say so.
      this.#end(sub, err);
      const onError = sub.options.onError;
      if (onError !== undefined) this.#callUser(() => onError(err), sub.channel, 'onError');
      this.#events.emit('error', err);
      return;
    }
    if (reply.type !== 'subscribed') return;
    sub.state = 'active';
    sub.retries = 0;
    const resubscribed = sub.confirmed;
    sub.confirmed = true;
    let recovery: RecoveryInfo | undefined;
    if (sub.pattern) {
      // Patterns are live-only: whatever was published while disconnected is not replayed.
      if (resubscribed) recovery = { channel: sub.channel, pattern: true, recovered: false, position: undefined, resubscribed };
    } else {
      const current = reply.epoch !== undefined && reply.offset !== undefined ? { epoch: reply.epoch, offset: reply.offset } : undefined;
      if (hadSince) {
        const recovered = reply.recovered === true;
        if (!recovered && current !== undefined) sub.setPosition(current);
        recovery = { channel: sub.channel, pattern: false, recovered, position: sub.position, resubscribed };
      } else if (current !== undefined) {
        sub.setPosition(current);
      }
    }
    if (!resubscribed) {
      const ready = sub.ready;
      sub.ready = undefined;
      ready?.resolve();
    }
    if (recovery !== undefined) {
      const info = recovery;
      const onRecovery = sub.options.onRecovery;
      if (onRecovery !== undefined) this.#callUser(() => onRecovery(info), sub.channel, 'onRecovery');
      this.#events.emit('recovery', info);
    }
  }

  /** Ends a subscription locally: no more delivery, and a pending `subscribe()` rejects with `err`. */
  #end(sub: ClientSubscription, err: unknown): void {
    sub.state = 'closed';
    sub.requestId = undefined;
    clearTimeout(sub.retryTimer);
    sub.retryTimer = undefined;
    if (this.#subs.get(sub.channel) === sub) this.#subs.delete(sub.channel);
    const ready = sub.ready;
    sub.ready = undefined;
    ready?.reject(err);
  }

  async #unsubscribe(sub: ClientSubscription): Promise<void> {
    if (sub.state === 'closed') return;
    const onBroker = sub.state === 'active' || sub.requestId !== undefined;
    this.#end(
      sub,
      new TributaryError(ErrorCodes.CLOSED, `unsubscribed from ${sub.channel} before the broker confirmed it`, { channel: sub.channel }),
    );
    if (!onBroker || !this.#connected()) return;
    try {
      await this.#requests.request({ type: 'unsubscribe', channel: sub.channel }, 'unsubscribed', () => undefined, { resend: false });
    } catch (err) {
      // Not subscribed (the subscribe failed) or the connection went away: either way it is over.
      if (isTributaryError(err, ErrorCodes.NOT_SUBSCRIBED) || isTributaryError(err, ErrorCodes.CLOSED)) return;
      throw err;
    }
  }

  #deliver(sub: ClientSubscription, msg: Message<JsonValue>): void {
    this.#callUser(() => sub.handler(msg as Message<never>), sub.channel, 'subscription handler');
  }

  /** Runs user code; a throw or a rejected promise becomes an `error` event, never a broken client. */
  #callUser(fn: () => unknown, channel: string, what: string): void {
    const report = (err: unknown): void =>
      this.#events.emit('error', new TributaryError(ErrorCodes.INTERNAL, `${what} for ${channel} threw`, { cause: err, channel }));
    try {
      const r = fn();
      if (r !== null && typeof r === 'object' && typeof (r as { then?: unknown }).then === 'function') {
        (r as PromiseLike<unknown>).then(undefined, report);
      }
    } catch (err) {
      report(err);
    }
  }
}
