import { ErrorCodes, TributaryError, type JsonValue, type PresenceMember } from '@tributary/protocol/wire';
import { Dialer } from './dial.js';
import { TypedEmitter } from './emitter.js';
import { checkChannel, closedError } from './errors.js';
import { historyFrame, preparePublish, toHistoryResult } from './frames.js';
import { ConnectionLifecycle } from './lifecycle.js';
import { resolveClientOptions, type ClientOptions, type ResolvedClientOptions } from './options.js';
import type {
  ClientEvents,
  ConnectionState,
  HistoryOptions,
  HistoryResult,
  Message,
  PublishAck,
  PublishOptions,
  SubscribeOptions,
  Subscription,
} from './types.js';

/**
 * A Tributary client for Node and browsers: publish, subscribe (with resume), history and presence
 * over one WebSocket, reconnecting by itself.
 *
 * - Every publish carries a `msgId` (random unless given), so one retried after a reconnect is
 *   stored once. Requests made while disconnected wait for the connection, up to `requestTimeoutMs`;
 *   publishes in flight when the connection drops are re-sent, with the same `msgId`.
 * - After a reconnect every subscription re-subscribes from the last position it delivered: missed
 *   messages arrive first, in order, exactly once; when the broker no longer has them the
 *   subscription's `onRecovery` and the client's `recovery` event say `recovered: false`.
 * - Failures are {@link TributaryError}s whose `code` is the broker's, or `CLOSED` / `TIMEOUT`.
 *
 * @example
 * ```ts
 * const client = new TributaryClient({ url: 'ws://127.0.0.1:7700/v1/ws', token: () => fetchToken() });
 * await client.connect();
 * const sub = await client.subscribe('chat.lobby', (msg) => console.log(msg.offset, msg.data));
 * await client.publish('chat.lobby', { text: 'hi' });
 * await sub.unsubscribe();
 * await client.close();
 * ```
 */
export class TributaryClient {
  readonly #opts: ResolvedClientOptions;
  readonly #events = new TypedEmitter<ClientEvents>();
  readonly #dialer: Dialer;
  readonly #lifecycle: ConnectionLifecycle;

  /** Validates `options` (a `TypeError` names a bad field); does not connect: call {@link connect}. */
  constructor(options: ClientOptions) {
    this.#opts = resolveClientOptions(options);
    this.#dialer = new Dialer(this.#opts);
    this.#lifecycle = new ConnectionLifecycle(this.#opts, this.#events, this.#dialer);
  }

  /** Where the connection stands. */
  get state(): ConnectionState {
    return this.#lifecycle.state;
  }

  /** The broker's id for the current (or last) connection. */
  get clientId(): string | undefined {
    return this.#lifecycle.welcome?.clientId;
  }

  /** The broker's limit on a message's `data`, in bytes of its JSON; known once connected. */
  get maxPayloadBytes(): number | undefined {
    return this.#lifecycle.welcome?.maxPayloadBytes;
  }

  /** Adds an event listener; returns a function that removes it. */
  on<K extends keyof ClientEvents>(event: K, listener: (payload: ClientEvents[K]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /** Adds a listener called at most once; returns a function that removes it. */
  once<K extends keyof ClientEvents>(event: K, listener: (payload: ClientEvents[K]) => void): () => void {
    return this.#events.once(event, listener);
  }

  /** Removes a listener added with {@link on}. */
  off<K extends keyof ClientEvents>(event: K, listener: (payload: ClientEvents[K]) => void): void {
    this.#events.off(event, listener);
  }

  /**
   * Connects and resolves once the broker welcomed the connection. Rejects when the first attempt
   * fails (unless `waitOnFirstConnect`), e.g. with `UNAUTHORIZED` for refused credentials; after
   * that the client reconnects by itself. While disconnected, calling it again retries at once.
   */
  connect(): Promise<void> {
    return this.#lifecycle.connect();
  }

  /**
   * Publishes `data` to `channel` and resolves with the broker's ack. While disconnected the publish
   * waits for the connection; if the connection drops before the ack it is re-sent with the same
   * `msgId`, so it is stored once (`duplicate: true` in the ack tells a retry was recognised).
   * Rejects with the broker's code (`FORBIDDEN`, `PAYLOAD_TOO_LARGE`, `REJECTED`, …), `TIMEOUT`
   * (it may or may not be stored: retry with the same `msgId`) or `CLOSED`.
   */
  publish<T extends JsonValue>(channel: string, data: T, options: PublishOptions = {}): Promise<PublishAck> {
    const prepared = preparePublish(channel, data, options, this.#lifecycle.welcome?.maxPayloadBytes);
    if (prepared instanceof TributaryError) return Promise.reject(prepared);
    const { frame, bytes } = prepared;
    return this.#lifecycle.requests.request(
      frame,
      'ack',
      (a) => ({ channel: a.channel, offset: a.offset, epoch: a.epoch, duplicate: a.duplicate, msgId: frame.msgId }),
      { resend: true, payloadBytes: bytes },
    );
  }

  /**
   * Subscribes `handler` to a channel or pattern and resolves once the broker confirmed it (before
   * any replayed message is delivered). With `since`, messages after that position are delivered
   * first; `onRecovery` tells whether all of them were still there. After a reconnect the
   * subscription resumes from its last position by itself. One subscription per channel or pattern
   * per client (`ALREADY_SUBSCRIBED` otherwise).
   *
   * Handlers are called in order, one message at a time; a handler that throws (or returns a
   * rejected promise) is reported as an `error` event and delivery goes on. Async handlers are not
   * awaited.
   */
  subscribe<T = JsonValue>(
    channel: string,
    handler: (msg: Message<T>) => void | Promise<void>,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    if (this.#lifecycle.state === 'closed') return Promise.reject(closedError(channel));
    return this.#lifecycle.subscriptions.subscribe(channel, handler, options);
  }

  /**
   * Reads a channel's stored messages: after `since` (exclusive), or the latest `limit`.
   * Needs the `history` grant.
   */
  history<T = JsonValue>(channel: string, options: HistoryOptions = {}): Promise<HistoryResult<T>> {
    const frame = historyFrame(channel, options);
    if (frame instanceof TributaryError) return Promise.reject(frame);
    return this.#lifecycle.requests.request(frame, 'history', (r) => toHistoryResult<T>(r), { resend: true });
  }

  /** Lists the clients present on a channel (those subscribed with `presence: true`). Needs the `presence` grant. */
  presence(channel: string): Promise<PresenceMember[]> {
    const bad = checkChannel(channel, false);
    if (bad !== undefined) return Promise.reject(bad);
    return this.#lifecycle.requests.request({ type: 'presence', channel }, 'presence', (r) => r.members, { resend: true });
  }

  /** Round trip to the broker: resolves with the time it took and the broker's clock. */
  ping(): Promise<{ rttMs: number; serverTime: number }> {
    const start = Date.now();
    return this.#lifecycle.requests.request({ type: 'ping' }, 'pong', (r) => ({ rttMs: Date.now() - start, serverTime: r.time }), {
      resend: true,
    });
  }

  /**
   * Sends a fresh token (from the `token` option) on the open connection, e.g. before the current
   * one expires, so the broker does not close the connection with 4001. Resolves with the new
   * expiry (ms since the Unix epoch) when the token has one.
   */
  async reauthenticate(): Promise<{ expiresAt: number | undefined }> {
    if (this.#opts.token === undefined) {
      throw new TributaryError(ErrorCodes.UNAUTHORIZED, 'no token option to re-authenticate with');
    }
    const token = await this.#dialer.token();
    return this.#lifecycle.requests.request({ type: 'auth', token: token as string }, 'authed', (r) => ({ expiresAt: r.expiresAt }), {
      resend: true,
    });
  }

  /**
   * Closes the connection and stops reconnecting; final. Pending requests and subscribes reject
   * with `CLOSED`. Resolves when the socket closed (after at most about a second).
   */
  close(): Promise<void> {
    return this.#lifecycle.close();
  }
}
