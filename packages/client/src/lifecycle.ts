import { ErrorCodes, isTributaryError, TributaryError, type ServerFrame, type WelcomeFrame } from '@tributary/protocol/wire';
import { backoffDelay, defaultReconnect, Sleeper } from './backoff.js';
import { CLOSE_ABNORMAL, errorFromFrame, type CloseInfo, type Connection } from './connection.js';
import type { Dialer } from './dial.js';
import type { TypedEmitter } from './emitter.js';
import { closedError, isCredentialFailure } from './errors.js';
import { Keepalive } from './keepalive.js';
import type { ResolvedClientOptions } from './options.js';
import { RequestQueue } from './requests.js';
import { Subscriptions } from './subscriptions.js';
import type { ClientEvents, ConnectionState } from './types.js';

/** How long close() waits for the closing handshake before dropping the socket. */
const CLOSE_GRACE_MS = 1000;

/**
 * The client's connection lifecycle: the reconnect loop, what happens when a connection is
 * welcomed or drops, and the routing of its frames to requests and subscriptions.
 */
export class ConnectionLifecycle {
  readonly #opts: ResolvedClientOptions;
  readonly #events: TypedEmitter<ClientEvents>;
  readonly #dialer: Dialer;
  /** Requests and their replies, sent on the current connection. */
  readonly requests: RequestQueue;
  /** Subscriptions, re-subscribed on every new connection. */
  readonly subscriptions: Subscriptions;
  readonly #keepalive: Keepalive;
  readonly #sleeper = new Sleeper();
  #state: ConnectionState = 'idle';
  /** The welcomed connection requests go through, when there is one. */
  #conn: Connection | undefined;
  #running = false;
  #everConnected = false;
  #welcome: WelcomeFrame | undefined;
  #waiters: Array<{ resolve(): void; reject(err: unknown): void }> = [];
  /** Index in `urls` of the endpoint the next attempt goes to. */
  #urlIndex = 0;
  #closing: Promise<void> | undefined;

  constructor(opts: ResolvedClientOptions, events: TypedEmitter<ClientEvents>, dialer: Dialer) {
    this.#opts = opts;
    this.#events = events;
    this.#dialer = dialer;
    this.requests = new RequestQueue(
      {
        connection: () => this.#conn,
        maxPayloadBytes: () => this.#welcome?.maxPayloadBytes,
        isClosed: () => this.#isClosed(),
      },
      this.#opts.requestTimeoutMs,
    );
    this.subscriptions = new Subscriptions(this.requests, this.#events, this.#opts, () => this.#conn !== undefined);
    this.#keepalive = new Keepalive(this.#opts.pingIntervalMs, () =>
      this.requests.request({ type: 'ping' }, 'pong', () => undefined, { resend: false }),
    );
  }

  /** Where the connection stands. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The broker's welcome on the current (or last) connection. */
  get welcome(): WelcomeFrame | undefined {
    return this.#welcome;
  }

  /** `TributaryClient.connect()`: resolves on the next welcome, starting the loop when it is not running. */
  connect(): Promise<void> {
    if (this.#state === 'closed') return Promise.reject(closedError());
    if (this.#state === 'connected') return Promise.resolve();
    const ready = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    if (this.#running) this.#sleeper.wake();
    else this.#startRun();
    return ready;
  }

  /** `TributaryClient.close()`: final; fails everything pending with `CLOSED`. */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    const previous = this.#state;
    this.#state = 'closed';
    const err = closedError();
    this.#keepalive.stop();
    this.#sleeper.wake();
    this.requests.failAll(err);
    this.subscriptions.endAll(err);
    this.#rejectWaiters(err);
    this.#dialer.abandon(err);
    const conn = this.#conn;
    this.#conn = undefined;
    this.#closing = conn === undefined ? Promise.resolve() : conn.shutdown(1000, 'client closed', CLOSE_GRACE_MS);
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
        conn = await this.#dialer.open(
          this.#urlIndex,
          (c, frame) => this.#onFrame(c, frame),
          () => this.#isClosed(),
        );
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
      await this.#sleeper.sleep(backoffDelay(attempt++, this.#opts.reconnect || defaultReconnect()));
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

  #onWelcome(conn: Connection): void {
    const welcome = conn.welcome as WelcomeFrame;
    this.#conn = conn;
    this.#welcome = welcome;
    const reconnected = this.#everConnected;
    this.#everConnected = true;
    this.#setState('connected');
    // Subscriptions first, then whatever waited: frames are handled in order by the broker.
    this.subscriptions.resubscribeAll();
    this.requests.flush();
    this.#keepalive.start(conn, () => this.#conn === conn);
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
    this.#keepalive.stop();
    this.subscriptions.markPending();
    const lost = new TributaryError(
      ErrorCodes.CLOSED,
      `connection closed (code ${info.code}${info.reason === '' ? '' : `: ${info.reason}`})`,
    );
    this.requests.requeue(lost);
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

  // ------------------------------------------------------------------------------ frames

  #onFrame(conn: Connection, frame: ServerFrame): void {
    if (conn !== this.#conn) return;
    switch (frame.type) {
      case 'message':
        this.subscriptions.onMessage(frame);
        return;
      case 'join':
      case 'leave':
        this.subscriptions.onPresence(frame);
        return;
      case 'welcome':
        return;
      default: {
        if (!this.requests.settle(frame) && frame.type === 'error' && frame.id === undefined) {
          this.#events.emit('error', errorFromFrame(frame));
        }
        // Anything else is a late reply to a request that timed out, or a frame type this client
        // does not know (the protocol says to ignore those).
      }
    }
  }
}
