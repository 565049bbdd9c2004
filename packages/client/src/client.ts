import {
  channelProblem,
  ErrorCodes,
  isPattern,
  isTributaryError,
  TributaryError,
  type ClientFrame,
  type JsonValue,
  type PresenceMember,
  type ServerFrame,
  type SubscribeFrame,
  type WelcomeFrame,
} from '@tributary/protocol/wire';
import { backoffDelay } from './backoff.js';
import { CLOSE_ABNORMAL, Connection, errorFromFrame, type CloseInfo } from './connection.js';
import { TypedEmitter } from './emitter.js';
import { randomMsgId } from './ids.js';
import {
  DEFAULT_RECONNECT_FACTOR,
  DEFAULT_RECONNECT_MAX_DELAY_MS,
  DEFAULT_RECONNECT_MIN_DELAY_MS,
  resolveClientOptions,
  type ClientOptions,
  type ResolvedClientOptions,
} from './options.js';
import { ClientSubscription } from './subscription.js';
import { resolveWebSocket, type WebSocketConstructor } from './transport.js';
import type {
  ClientEvents,
  ConnectionState,
  HistoryOptions,
  HistoryResult,
  Message,
  PresenceEvent,
  PublishAck,
  PublishOptions,
  RecoveryInfo,
  SubscribeOptions,
  Subscription,
} from './types.js';

/** A request waiting for its reply. */
interface Pending {
  id: number;
  /** The frame's JSON, encoded once so a resend carries exactly the same bytes. */
  text: string;
  channel: string | undefined;
  /** Re-send on the next connection if this one drops before the reply (idempotent requests only). */
  resend: boolean;
  /** Size of a publish's `data`, checked against the broker's limit before sending. */
  payloadBytes: number | undefined;
  /** Called once with the reply frame, or with the error that ended the request. */
  settle(result: ServerFrame | TributaryError): void;
}

type Reply<K extends ServerFrame['type']> = Extract<ServerFrame, { type: K }>;

/** Re-subscribe refusals worth retrying on the same connection: the broker may succeed later. */
const TRANSIENT = new Set<string>([ErrorCodes.UNAVAILABLE, ErrorCodes.RATE_LIMITED, ErrorCodes.INTERNAL, ErrorCodes.TIMEOUT]);
/** How long close() waits for the closing handshake before dropping the socket. */
const CLOSE_GRACE_MS = 1000;
const MAX_MSG_ID_LENGTH = 128;
const encoder = new TextEncoder();

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
  #state: ConnectionState = 'idle';
  /** The welcomed connection requests go through, when there is one. */
  #conn: Connection | undefined;
  /** A connection attempt under way (not welcomed yet). */
  #opening: Connection | undefined;
  #ctor: WebSocketConstructor | undefined;
  #running = false;
  #everConnected = false;
  #welcome: WelcomeFrame | undefined;
  #nextId = 1;
  /** Requests waiting for a connection, by id (ids grow, so id order is call order). */
  readonly #outbox = new Map<number, Pending>();
  /** Requests sent on the current connection and not answered yet. */
  readonly #inflight = new Map<number, Pending>();
  readonly #subs = new Map<string, ClientSubscription>();
  #waiters: Array<{ resolve(): void; reject(err: unknown): void }> = [];
  #sleepTimer: ReturnType<typeof setTimeout> | undefined;
  #wake: (() => void) | undefined;
  #pingTimer: ReturnType<typeof setTimeout> | undefined;
  /** Index in `urls` of the endpoint the next attempt goes to. */
  #urlIndex = 0;
  #closing: Promise<void> | undefined;

  /** Validates `options` (a `TypeError` names a bad field); does not connect: call {@link connect}. */
  constructor(options: ClientOptions) {
    this.#opts = resolveClientOptions(options);
  }

  /** Where the connection stands. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The broker's id for the current (or last) connection. */
  get clientId(): string | undefined {
    return this.#welcome?.clientId;
  }

  /** The broker's limit on a message's `data`, in bytes of its JSON; known once connected. */
  get maxPayloadBytes(): number | undefined {
    return this.#welcome?.maxPayloadBytes;
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
    if (this.#state === 'closed') return Promise.reject(closedError());
    if (this.#state === 'connected') return Promise.resolve();
    const ready = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    if (this.#running) this.#wake?.();
    else this.#startRun();
    return ready;
  }

  /**
   * Publishes `data` to `channel` and resolves with the broker's ack. While disconnected the publish
   * waits for the connection; if the connection drops before the ack it is re-sent with the same
   * `msgId`, so it is stored once (`duplicate: true` in the ack tells a retry was recognised).
   * Rejects with the broker's code (`FORBIDDEN`, `PAYLOAD_TOO_LARGE`, `REJECTED`, …), `TIMEOUT`
   * (it may or may not be stored: retry with the same `msgId`) or `CLOSED`.
   */
  publish<T extends JsonValue>(channel: string, data: T, options: PublishOptions = {}): Promise<PublishAck> {
    const bad = checkChannel(channel, false);
    if (bad !== undefined) return Promise.reject(bad);
    const msgId = options.msgId ?? randomMsgId();
    if (typeof msgId !== 'string' || msgId.length === 0 || msgId.length > MAX_MSG_ID_LENGTH) {
      return Promise.reject(new TributaryError(ErrorCodes.INVALID_FRAME, `msgId must be 1–${MAX_MSG_ID_LENGTH} characters`, { channel }));
    }
    let json: string | undefined;
    try {
      json = JSON.stringify(data);
    } catch (err) {
      return Promise.reject(new TributaryError(ErrorCodes.INVALID_FRAME, 'data is not serialisable as JSON', { channel, cause: err }));
    }
    if (json === undefined) {
      return Promise.reject(new TributaryError(ErrorCodes.INVALID_FRAME, 'data must be a JSON value', { channel }));
    }
    const bytes = encoder.encode(json).byteLength;
    const limit = this.#welcome?.maxPayloadBytes;
    if (limit !== undefined && bytes > limit) return Promise.reject(tooLarge(channel, bytes, limit));
    return this.#request(
      { type: 'publish', channel, data, msgId },
      'ack',
      (a) => ({ channel: a.channel, offset: a.offset, epoch: a.epoch, duplicate: a.duplicate, msgId }),
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
    if (this.#state === 'closed') return Promise.reject(closedError(channel));
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
      return Promise.reject(new TributaryError(ErrorCodes.INVALID_FRAME, 'since must be { offset: integer ≥ 0, epoch: string }', { channel }));
    }
    if (this.#subs.has(channel)) {
      return Promise.reject(new TributaryError(ErrorCodes.ALREADY_SUBSCRIBED, `already subscribed to ${channel}`, { channel }));
    }
    const sub = new ClientSubscription(channel, pattern, handler as (msg: Message<never>) => unknown, options, (s) =>
      this.#unsubscribe(s),
    );
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
      if (this.#conn !== undefined) this.#sendSubscribe(sub);
    });
  }

  /**
   * Reads a channel's stored messages: after `since` (exclusive), or the latest `limit`.
   * Needs the `history` grant.
   */
  history<T = JsonValue>(channel: string, options: HistoryOptions = {}): Promise<HistoryResult<T>> {
    const bad = checkChannel(channel, false);
    if (bad !== undefined) return Promise.reject(bad);
    const frame: ClientFrame = { type: 'history', channel };
    if (options.since !== undefined) {
      if (!Number.isSafeInteger(options.since) || options.since < 0) {
        return Promise.reject(new TributaryError(ErrorCodes.INVALID_FRAME, 'since must be an integer ≥ 0', { channel }));
      }
      frame.since = options.since;
    }
    if (options.limit !== undefined) {
      if (!Number.isSafeInteger(options.limit) || options.limit < 1 || options.limit > 1000) {
        return Promise.reject(new TributaryError(ErrorCodes.INVALID_FRAME, 'limit must be an integer from 1 to 1000', { channel }));
      }
      frame.limit = options.limit;
    }
    return this.#request(frame, 'history', (r) => ({
      channel: r.channel,
      epoch: r.epoch,
      first: r.first,
      last: r.last,
      messages: r.messages.map((m) => {
        const msg: Message<T> = { channel: r.channel, offset: m.offset, epoch: r.epoch, time: m.time, data: m.data as T };
        if (m.msgId !== undefined) msg.msgId = m.msgId;
        return msg;
      }),
    }), { resend: true });
  }

  /** Lists the clients present on a channel (those subscribed with `presence: true`). Needs the `presence` grant. */
  presence(channel: string): Promise<PresenceMember[]> {
    const bad = checkChannel(channel, false);
    if (bad !== undefined) return Promise.reject(bad);
    return this.#request({ type: 'presence', channel }, 'presence', (r) => r.members, { resend: true });
  }

  /** Round trip to the broker: resolves with the time it took and the broker's clock. */
  ping(): Promise<{ rttMs: number; serverTime: number }> {
    const start = Date.now();
    return this.#request({ type: 'ping' }, 'pong', (r) => ({ rttMs: Date.now() - start, serverTime: r.time }), { resend: true });
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
    const token = await this.#getToken();
    return this.#request({ type: 'auth', token: token as string }, 'authed', (r) => ({ expiresAt: r.expiresAt }), {
      resend: true,
    });
  }

  /**
   * Closes the connection and stops reconnecting; final. Pending requests and subscribes reject
   * with `CLOSED`. Resolves when the socket closed (after at most about a second).
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    const previous = this.#state;
    this.#state = 'closed';
    const err = closedError();
    this.#stopPing();
    clearTimeout(this.#sleepTimer);
    this.#wake?.();
    const pending = [...this.#outbox.values(), ...this.#inflight.values()];
    this.#outbox.clear();
    this.#inflight.clear();
    for (const p of pending) p.settle(err);
    for (const sub of this.#subs.values()) this.#endSubscription(sub, err);
    this.#subs.clear();
    this.#rejectWaiters(err);
    this.#opening?.abandon(CLOSE_ABNORMAL, 'client closed', err);
    const conn = this.#conn;
    this.#conn = undefined;
    this.#closing = (async () => {
      if (conn === undefined) return;
      conn.close(1000, 'client closed');
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([conn.closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)))]);
      clearTimeout(timer);
      conn.abandon(1000, 'client closed');
    })();
    if (previous !== 'closed') this.#events.emit('state', { state: 'closed', previous });
    return this.#closing;
  }

  // ------------------------------------------------------------------------------ connection loop

  #startRun(): void {
    if (this.#running) return;
    this.#running = true;
    this.#run()
      .catch((err: unknown) => {
        this.#events.emit('error', new TributaryError(ErrorCodes.INTERNAL, 'client connection loop failed', { cause: err }));
      })
      .finally(() => {
        this.#running = false;
        // A connect() called while the loop was on its way out (from an event listener) still gets served.
        if (this.#waiters.length > 0 && this.#state !== 'closed') this.#startRun();
      });
  }

  /** Connects, serves the connection until it drops, backs off, and again, until closed. */
  async #run(): Promise<void> {
    let attempt = 0;
    for (;;) {
      if (this.#state === 'closed') return;
      this.#setState('connecting');
      let conn: Connection | undefined;
      let failure: TributaryError | undefined;
      try {
        conn = await this.#open();
      } catch (err) {
        failure = isTributaryError(err) ? err : new TributaryError(ErrorCodes.CLOSED, String(err), { cause: err });
      }
      if (this.#isClosed()) {
        conn?.abandon(CLOSE_ABNORMAL, 'client closed');
        return;
      }
      if (conn !== undefined) {
        attempt = 0;
        this.#onWelcome(conn);
        const info = await conn.closed;
        if (this.#isClosed()) return;
        failure = this.#onDrop(conn, info);
        if (this.#opts.reconnect === false) return this.#stop('disconnected', failure);
      } else if (failure !== undefined) {
        if (isCredentialFailure(failure)) this.#events.emit('error', failure);
        if (this.#opts.reconnect === false || (!this.#everConnected && !this.#opts.waitOnFirstConnect)) {
          return this.#stop(this.#everConnected ? 'disconnected' : 'idle', failure);
        }
      }
      this.#setState('disconnected');
      // With several endpoints, the next attempt goes to the next node: the one that failed or
      // dropped us may be dead.
      this.#urlIndex = (this.#urlIndex + 1) % this.#opts.urls.length;
      await this.#sleep(backoffDelay(attempt++, this.#opts.reconnect || defaultReconnect()));
    }
  }

  /** A method, not a field read, so TypeScript does not keep a narrowing across awaits. */
  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #stop(state: ConnectionState, failure: TributaryError | undefined): void {
    this.#rejectWaiters(failure ?? closedError());
    this.#setState(state);
  }

  /** One attempt: fresh token, socket, and the broker's welcome, all within `connectTimeoutMs`. */
  async #open(): Promise<Connection> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut: TributaryError | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = new TributaryError(ErrorCodes.TIMEOUT, `no welcome from the broker within ${this.#opts.connectTimeoutMs} ms`);
        reject(timedOut);
      }, this.#opts.connectTimeoutMs);
    });
    deadline.catch(() => {});
    try {
      const token = await Promise.race([this.#getToken(), deadline]);
      this.#ctor ??= await Promise.race([
        resolveWebSocket(this.#opts.WebSocket).catch((err: unknown) => {
          throw new TributaryError(ErrorCodes.CLOSED, err instanceof Error ? err.message : String(err), { cause: err });
        }),
        deadline,
      ]);
      if (this.#isClosed()) throw closedError();
      const endpoint = this.#opts.urls[this.#urlIndex % this.#opts.urls.length] as string;
      let url = endpoint;
      if (token !== undefined) {
        const u = new URL(url);
        u.searchParams.set('token', token);
        url = u.toString();
      }
      let conn: Connection;
      try {
        conn = new Connection(this.#ctor, url, (frame) => this.#onFrame(conn, frame));
      } catch (err) {
        throw new TributaryError(ErrorCodes.CLOSED, `cannot open a WebSocket to ${endpoint}`, { cause: err });
      }
      this.#opening = conn;
      try {
        await Promise.race([conn.welcomed, deadline]);
        return conn;
      } catch (err) {
        conn.abandon(CLOSE_ABNORMAL, timedOut === undefined ? 'connect failed' : 'connect timeout', timedOut);
        throw err;
      }
    } finally {
      clearTimeout(timer);
      this.#opening = undefined;
    }
  }

  #onWelcome(conn: Connection): void {
    const welcome = conn.welcome as WelcomeFrame;
    this.#conn = conn;
    this.#welcome = welcome;
    const reconnected = this.#everConnected;
    this.#everConnected = true;
    this.#setState('connected');
    // Subscriptions first, then whatever waited: frames are handled in order by the broker.
    for (const sub of this.#subs.values()) {
      clearTimeout(sub.retryTimer);
      sub.retryTimer = undefined;
      this.#sendSubscribe(sub);
    }
    const queued = [...this.#outbox.values()].sort((a, b) => a.id - b.id);
    this.#outbox.clear();
    for (const p of queued) this.#transmit(p);
    this.#startPing(conn);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.resolve();
    this.#events.emit('connected', {
      clientId: welcome.clientId,
      node: welcome.node,
      maxPayloadBytes: welcome.maxPayloadBytes,
      reconnected,
    });
  }

  /** Cleans up after a welcomed connection ended; returns the error that ended it. */
  #onDrop(conn: Connection, info: CloseInfo): TributaryError {
    if (this.#conn === conn) this.#conn = undefined;
    this.#stopPing();
    for (const sub of this.#subs.values()) {
      sub.state = 'pending';
      sub.requestId = undefined;
    }
    const inflight = [...this.#inflight.values()];
    this.#inflight.clear();
    const lost = new TributaryError(ErrorCodes.CLOSED, `connection closed (code ${info.code}${info.reason === '' ? '' : `: ${info.reason}`})`);
    for (const p of inflight) {
      if (p.resend) this.#outbox.set(p.id, p);
      else p.settle(lost);
    }
    const error = info.error === undefined ? undefined : errorFromFrame(info.error);
    this.#events.emit('disconnected', {
      code: info.code,
      reason: info.reason,
      willReconnect: this.#opts.reconnect !== false,
      error,
    });
    return error ?? lost;
  }

  #setState(next: ConnectionState): void {
    const previous = this.#state;
    if (previous === next || previous === 'closed') return;
    this.#state = next;
    this.#events.emit('state', { state: next, previous });
  }

  #rejectWaiters(err: unknown): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(err);
  }

  /** Waits `ms`, or less when close() or connect() wakes the loop. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(this.#sleepTimer);
        this.#sleepTimer = undefined;
        this.#wake = undefined;
        resolve();
      };
      this.#wake = done;
      this.#sleepTimer = setTimeout(done, ms);
    });
  }

  async #getToken(): Promise<string | undefined> {
    const source = this.#opts.token;
    if (source === undefined || typeof source === 'string') return source;
    let token: unknown;
    try {
      token = await source();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new TributaryError(ErrorCodes.UNAUTHORIZED, `the token function failed: ${why}`, { cause: err });
    }
    if (typeof token !== 'string' || token === '') {
      throw new TributaryError(ErrorCodes.UNAUTHORIZED, 'the token function must return a non-empty string');
    }
    return token;
  }

  #startPing(conn: Connection): void {
    const interval = this.#opts.pingIntervalMs;
    if (interval === 0) return;
    const tick = (): void => {
      this.#pingTimer = undefined;
      if (this.#conn !== conn) return;
      this.#request({ type: 'ping' }, 'pong', () => undefined, { resend: false }).then(
        () => {
          if (this.#conn === conn) this.#pingTimer = setTimeout(tick, interval);
        },
        (err: unknown) => {
          // No pong in time: the network is gone even if the socket has not noticed yet.
          if (this.#conn === conn && isTributaryError(err, ErrorCodes.TIMEOUT)) conn.abandon(CLOSE_ABNORMAL, 'ping timeout');
        },
      );
    };
    this.#pingTimer = setTimeout(tick, interval);
  }

  #stopPing(): void {
    clearTimeout(this.#pingTimer);
    this.#pingTimer = undefined;
  }

  // ------------------------------------------------------------------------------ frames

  #onFrame(conn: Connection, frame: ServerFrame): void {
    if (conn !== this.#conn) return;
    switch (frame.type) {
      case 'message': {
        const sub = this.#subs.get(frame.sub ?? frame.channel);
        const msg = sub?.accept(frame);
        if (sub !== undefined && msg !== undefined) this.#deliver(sub, msg);
        return;
      }
      case 'join':
      case 'leave': {
        const event: PresenceEvent = { type: frame.type, channel: frame.channel, member: frame.member };
        const onPresence = this.#subs.get(frame.channel)?.options.onPresence;
        if (onPresence !== undefined) this.#callUser(() => onPresence(event), frame.channel, 'onPresence');
        this.#events.emit('presence', event);
        return;
      }
      case 'welcome':
        return;
      default: {
        const id = (frame as { id?: unknown }).id;
        const pending = typeof id === 'number' ? this.#inflight.get(id) : undefined;
        if (pending !== undefined) {
          this.#inflight.delete(pending.id);
          pending.settle(frame);
        } else if (frame.type === 'error' && id === undefined) {
          this.#events.emit('error', errorFromFrame(frame));
        }
        // Anything else is a late reply to a request that timed out, or a frame type this client
        // does not know (the protocol says to ignore those).
      }
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

  // ------------------------------------------------------------------------------ requests

  #request<K extends ServerFrame['type'], T>(
    frame: ClientFrame,
    expect: K,
    map: (reply: Reply<K>) => T,
    options: { resend: boolean; payloadBytes?: number },
  ): Promise<T> {
    const channel = 'channel' in frame ? frame.channel : undefined;
    if (this.#state === 'closed') return Promise.reject(closedError(channel));
    return new Promise<T>((resolve, reject) => {
      const id = this.#nextId++;
      const timer = setTimeout(() => {
        this.#outbox.delete(id);
        this.#inflight.delete(id);
        const what = frame.type === 'publish' ? 'publish (it may or may not have been stored)' : frame.type;
        reject(new TributaryError(ErrorCodes.TIMEOUT, `${what} timed out after ${this.#opts.requestTimeoutMs} ms`, { channel }));
      }, this.#opts.requestTimeoutMs);
      this.#enqueue({
        id,
        text: JSON.stringify({ ...frame, id }),
        channel,
        resend: options.resend,
        payloadBytes: options.payloadBytes,
        settle: (result) => {
          clearTimeout(timer);
          if (result instanceof TributaryError) return reject(result);
          if (result.type === 'error') return reject(errorFromFrame(result));
          if (result.type !== expect) {
            return reject(new TributaryError(ErrorCodes.INTERNAL, `expected a ${expect} reply, got ${result.type}`, { channel }));
          }
          try {
            resolve(map(result as Reply<K>));
          } catch (err) {
            reject(err);
          }
        },
      });
    });
  }

  #enqueue(p: Pending): void {
    if (this.#conn !== undefined) this.#transmit(p);
    else this.#outbox.set(p.id, p);
  }

  /** Sends on the current connection; a send that fails stays in flight and is handled with the drop. */
  #transmit(p: Pending): void {
    const limit = this.#welcome?.maxPayloadBytes;
    if (p.payloadBytes !== undefined && limit !== undefined && p.payloadBytes > limit) {
      p.settle(tooLarge(p.channel ?? '', p.payloadBytes, limit));
      return;
    }
    this.#inflight.set(p.id, p);
    this.#conn?.send(p.text);
  }

  // ------------------------------------------------------------------------------ subscriptions

  #sendSubscribe(sub: ClientSubscription): void {
    if (this.#conn === undefined || sub.state === 'closed') return;
    const id = this.#nextId++;
    const since = sub.resumeFrom();
    const frame: SubscribeFrame = { type: 'subscribe', id, channel: sub.channel };
    if (since !== undefined) frame.since = since;
    if (sub.options.presence === true) frame.presence = true;
    sub.requestId = id;
    this.#transmit({
      id,
      text: JSON.stringify(frame),
      channel: sub.channel,
      resend: false,
      payloadBytes: undefined,
      settle: (reply) => this.#onSubscribeReply(sub, id, reply, since !== undefined),
    });
  }

  #onSubscribeReply(sub: ClientSubscription, id: number, reply: ServerFrame | TributaryError, hadSince: boolean): void {
    if (sub.requestId !== id || sub.state === 'closed') return;
    sub.requestId = undefined;
    // The connection dropped first: the next connection re-subscribes.
    if (reply instanceof TributaryError) return;
    if (reply.type === 'error') {
      const err = errorFromFrame(reply);
      if (!sub.confirmed) {
        this.#endSubscription(sub, err);
        return;
      }
      if (TRANSIENT.has(err.code)) {
        this.#events.emit('error', err);
        const delay = backoffDelay(sub.retries++, this.#opts.reconnect || defaultReconnect());
        sub.retryTimer = setTimeout(() => {
          sub.retryTimer = undefined;
          if (sub.state === 'pending' && sub.requestId === undefined) this.#sendSubscribe(sub);
        }, delay);
        return;
      }
      // Refused for good (e.g. the new token lacks the grant): end it and say so.
      this.#endSubscription(sub, err);
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
  #endSubscription(sub: ClientSubscription, err: unknown): void {
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
    this.#endSubscription(
      sub,
      new TributaryError(ErrorCodes.CLOSED, `unsubscribed from ${sub.channel} before the broker confirmed it`, { channel: sub.channel }),
    );
    if (!onBroker || this.#conn === undefined) return;
    try {
      await this.#request({ type: 'unsubscribe', channel: sub.channel }, 'unsubscribed', () => undefined, { resend: false });
    } catch (err) {
      // Not subscribed (the subscribe failed) or the connection went away: either way it is over.
      if (isTributaryError(err, ErrorCodes.NOT_SUBSCRIBED) || isTributaryError(err, ErrorCodes.CLOSED)) return;
      throw err;
    }
  }
}

function closedError(channel?: string): TributaryError {
  return new TributaryError(ErrorCodes.CLOSED, 'the client is closed', channel === undefined ? undefined : { channel });
}

function tooLarge(channel: string, bytes: number, limit: number): TributaryError {
  return new TributaryError(ErrorCodes.PAYLOAD_TOO_LARGE, `data is ${bytes} bytes; the limit is ${limit}`, { channel });
}

/** The same checks the broker makes, so a bad name fails at once with the code the broker would send. */
function checkChannel(channel: string, allowPattern: boolean): TributaryError | undefined {
  const problem = channelProblem(channel, allowPattern);
  return problem === undefined ? undefined : new TributaryError(ErrorCodes.INVALID_CHANNEL, `channel ${problem}`, { channel });
}

function isCredentialFailure(err: TributaryError): boolean {
  return err.code === ErrorCodes.UNAUTHORIZED || err.code === ErrorCodes.TOKEN_EXPIRED || err.code === ErrorCodes.LIMIT_EXCEEDED;
}

function defaultReconnect(): { minDelayMs: number; maxDelayMs: number; factor: number } {
  return { minDelayMs: DEFAULT_RECONNECT_MIN_DELAY_MS, maxDelayMs: DEFAULT_RECONNECT_MAX_DELAY_MS, factor: DEFAULT_RECONNECT_FACTOR };
}
