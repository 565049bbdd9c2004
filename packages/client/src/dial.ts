import { ErrorCodes, TributaryError, type ServerFrame } from '@tributary/protocol/wire';
import { CLOSE_ABNORMAL, Connection } from './connection.js';
import { closedError } from './errors.js';
import type { ResolvedClientOptions } from './options.js';
import { resolveWebSocket, type WebSocketConstructor } from './transport.js';

/** Opens connections for the client's reconnect loop: one attempt at a time. */
export class Dialer {
  readonly #opts: ResolvedClientOptions;
  #ctor: WebSocketConstructor | undefined;
  /** A connection attempt under way (not welcomed yet). */
  #opening: Connection | undefined;

  constructor(opts: ResolvedClientOptions) {
    this.#opts = opts;
  }

  /** A fresh token from the `token` option; `UNAUTHORIZED` when the token function fails. */
  async token(): Promise<string | undefined> {
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

  /**
   * One attempt to the endpoint at `urlIndex`: fresh token, socket, and the broker's welcome, all
   * within `connectTimeoutMs`. `onFrame` gets the frames that follow the welcome.
   */
  async open(urlIndex: number, onFrame: (conn: Connection, frame: ServerFrame) => void, isClosed: () => boolean): Promise<Connection> {
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
      const token = await Promise.race([this.token(), deadline]);
      this.#ctor ??= await Promise.race([
        resolveWebSocket(this.#opts.WebSocket).catch((err: unknown) => {
          throw new TributaryError(ErrorCodes.CLOSED, err instanceof Error ? err.message : String(err), { cause: err });
        }),
        deadline,
      ]);
      if (isClosed()) throw closedError();
      const endpoint = this.#opts.urls[urlIndex % this.#opts.urls.length] as string;
      let url = endpoint;
      if (token !== undefined) {
        const u = new URL(url);
        u.searchParams.set('token', token);
        url = u.toString();
      }
      let conn: Connection;
      try {
        conn = new Connection(this.#ctor, url, (frame) => onFrame(conn, frame));
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

  /** Drops the attempt under way, if any: the client closed. */
  abandon(err: TributaryError): void {
    this.#opening?.abandon(CLOSE_ABNORMAL, 'client closed', err);
  }
}
