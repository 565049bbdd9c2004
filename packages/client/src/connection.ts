import { ErrorCodes, TributaryError, type ErrorFrame, type ServerFrame, type WelcomeFrame } from '@tributary/protocol/wire';
import { textOf, WS_OPEN, type WebSocketConstructor, type WebSocketLike } from './transport.js';

/** How a connection ended. */
export interface CloseInfo {
  code: number;
  reason: string;
  /** The unsolicited error frame the broker sent last (it explains a 4001, for instance). */
  error: ErrorFrame | undefined;
}

/** Close code reported when the client gives up on a connection itself (RFC 6455 "abnormal"). */
export const CLOSE_ABNORMAL = 1006;
/** Close code sent to the broker when the client drops a connection it considers dead. */
const CLOSE_CLIENT_GAVE_UP = 4000;

/** Turns an error frame into the error callers see. */
export function errorFromFrame(frame: ErrorFrame): TributaryError {
  return new TributaryError(frame.code, frame.message, frame.channel === undefined ? undefined : { channel: frame.channel });
}

/**
 * One WebSocket connection attempt and, once welcomed, its life. It knows nothing about requests
 * or subscriptions: it parses frames, waits for `welcome`, and reports how it ended exactly once.
 */
export class Connection {
  readonly #ws: WebSocketLike;
  readonly #onFrame: (frame: ServerFrame) => void;
  #welcome: WelcomeFrame | undefined;
  #lastError: ErrorFrame | undefined;
  #dead = false;
  #resolveWelcomed!: (frame: WelcomeFrame) => void;
  #rejectWelcomed!: (err: TributaryError) => void;
  #resolveClosed!: (info: CloseInfo) => void;
  /** Resolves with the broker's `welcome`; rejects when the connection ends before it. */
  readonly welcomed: Promise<WelcomeFrame>;
  /** Resolves once, when the connection ended (closed by either side or abandoned). */
  readonly closed: Promise<CloseInfo>;

  constructor(Ctor: WebSocketConstructor, url: string, onFrame: (frame: ServerFrame) => void) {
    this.#onFrame = onFrame;
    this.welcomed = new Promise((resolve, reject) => {
      this.#resolveWelcomed = resolve;
      this.#rejectWelcomed = reject;
    });
    // Nobody may be waiting for `welcomed` when it fails (the failure is also reported by `closed`).
    this.welcomed.catch(() => {});
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#ws = new Ctor(url);
    this.#ws.addEventListener('message', (event) => this.#receive(event.data));
    this.#ws.addEventListener('close', (event) => this.#finish(event.code, event.reason));
    // An 'error' event is always followed by 'close'; `ws` also requires a listener to not throw.
    this.#ws.addEventListener('error', () => {});
  }

  get welcome(): WelcomeFrame | undefined {
    return this.#welcome;
  }

  /** Sends a frame's text; false when the socket is not open (the caller treats it as lost). */
  send(text: string): boolean {
    if (this.#dead || this.#ws.readyState !== WS_OPEN) return false;
    try {
      this.#ws.send(text);
      return true;
    } catch {
      return false;
    }
  }

  /** Starts the closing handshake; {@link closed} resolves when it completes. */
  close(code: number, reason: string): void {
    if (this.#dead) return;
    try {
      this.#ws.close(code, reason);
    } catch {
      this.abandon(code, reason);
    }
  }

  /**
   * Closes with the handshake, and drops the socket when the handshake has not completed within
   * `graceMs`; resolves once the connection is over.
   */
  async shutdown(code: number, reason: string, graceMs: number): Promise<void> {
    this.close(code, reason);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    this.abandon(code, reason);
  }

  /**
   * Ends the connection now, without waiting for the closing handshake (a dead network would make
   * the handshake hang); {@link welcomed} rejects with `error` when given.
   */
  abandon(code: number, reason: string, error?: TributaryError): void {
    if (this.#dead) return;
    try {
      if (this.#ws.terminate !== undefined) this.#ws.terminate();
      else this.#ws.close(CLOSE_CLIENT_GAVE_UP, reason);
    } catch {
      // Already closing or closed: nothing more to do.
    }
    this.#finish(code, reason, error);
  }

  #receive(data: unknown): void {
    if (this.#dead) return;
    const text = textOf(data);
    if (text === undefined) return;
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return; // The broker only sends JSON; ignore anything else rather than fail the connection.
    }
    if (typeof frame !== 'object' || frame === null || typeof (frame as { type?: unknown }).type !== 'string') return;
    const f = frame as ServerFrame;
    if (f.type === 'error' && f.id === undefined) this.#lastError = f;
    if (this.#welcome === undefined) {
      if (f.type === 'welcome') {
        this.#welcome = f;
        this.#resolveWelcomed(f);
      }
      return;
    }
    this.#onFrame(f);
  }

  #finish(code: number, reason: string, error?: TributaryError): void {
    if (this.#dead) return;
    this.#dead = true;
    const info: CloseInfo = { code, reason, error: this.#lastError };
    if (this.#welcome === undefined) {
      const why = reason === '' ? `code ${code}` : `code ${code}: ${reason}`;
      this.#rejectWelcomed(
        error ??
          (this.#lastError === undefined
            ? new TributaryError(ErrorCodes.CLOSED, `connection closed before the broker's welcome (${why})`)
            : errorFromFrame(this.#lastError)),
      );
    }
    this.#resolveClosed(info);
  }
}
