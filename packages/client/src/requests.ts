import { ErrorCodes, TributaryError, type ClientFrame, type ServerFrame } from '@tributary/protocol/wire';
import { errorFromFrame, type Connection } from './connection.js';
import { closedError, tooLarge } from './errors.js';

/** A request waiting for its reply. */
export interface Pending {
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

/** The server frame of type `K`. */
export type Reply<K extends ServerFrame['type']> = Extract<ServerFrame, { type: K }>;

/** What the queue reads from the client that owns it. */
export interface RequestHost {
  /** The welcomed connection requests go through, when there is one. */
  connection(): Connection | undefined;
  /** The broker's limit on a message's `data`; known once connected. */
  maxPayloadBytes(): number | undefined;
  isClosed(): boolean;
}

/**
 * Request/reply bookkeeping: ids, each request's timeout, the requests waiting for a connection,
 * and those sent on the current one — re-queued (publishes and other idempotent requests) or
 * failed when it drops.
 */
export class RequestQueue {
  readonly #host: RequestHost;
  readonly #timeoutMs: number;
  #nextId = 1;
  /** Requests waiting for a connection, by id (ids grow, so id order is call order). */
  readonly #outbox = new Map<number, Pending>();
  /** Requests sent on the current connection and not answered yet. */
  readonly #inflight = new Map<number, Pending>();

  constructor(host: RequestHost, timeoutMs: number) {
    this.#host = host;
    this.#timeoutMs = timeoutMs;
  }

  /** A fresh request id, for frames sent with {@link transmit}. */
  nextId(): number {
    return this.#nextId++;
  }

  /**
   * Sends `frame` (now, or once connected) and resolves with `map` of its `expect` reply; rejects
   * with the broker's error, `TIMEOUT` after `requestTimeoutMs`, or `CLOSED`.
   */
  request<K extends ServerFrame['type'], T>(
    frame: ClientFrame,
    expect: K,
    map: (reply: Reply<K>) => T,
    options: { resend: boolean; payloadBytes?: number },
  ): Promise<T> {
    const channel = 'channel' in frame ? frame.channel : undefined;
    if (this.#host.isClosed()) return Promise.reject(closedError(channel));
    return new Promise<T>((resolve, reject) => {
      const id = this.nextId();
      const timer = setTimeout(() => {
        this.#outbox.delete(id);
        this.#inflight.delete(id);
        const what = frame.type === 'publish' ? 'publish (it may or may not have been stored)' : frame.type;
        reject(new TributaryError(ErrorCodes.TIMEOUT, `${what} timed out after ${this.#timeoutMs} ms`, { channel }));
      }, this.#timeoutMs);
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

  /** Sends on the current connection; a send that fails stays in flight and is handled with the drop. */
  transmit(p: Pending): void {
    const limit = this.#host.maxPayloadBytes();
    if (p.payloadBytes !== undefined && limit !== undefined && p.payloadBytes > limit) {
      p.settle(tooLarge(p.channel ?? '', p.payloadBytes, limit));
      return;
    }
    this.#inflight.set(p.id, p);
    this.#host.connection()?.send(p.text);
  }

  /**
   * Settles the request in flight that `frame` answers; false when it answers none (a late reply
   * to a request that timed out, or a frame that is not a reply).
   */
  settle(frame: ServerFrame): boolean {
    const id = (frame as { id?: unknown }).id;
    const pending = typeof id === 'number' ? this.#inflight.get(id) : undefined;
    if (pending === undefined) return false;
    this.#inflight.delete(pending.id);
    pending.settle(frame);
    return true;
  }

  /** Sends what waited for the connection just welcomed, in call order. */
  flush(): void {
    const queued = [...this.#outbox.values()].sort((a, b) => a.id - b.id);
    this.#outbox.clear();
    for (const p of queued) this.transmit(p);
  }

  /** After a drop: requests that may be re-sent wait for the next connection, the others fail with `lost`. */
  requeue(lost: TributaryError): void {
    const inflight = [...this.#inflight.values()];
    this.#inflight.clear();
    for (const p of inflight) {
      if (p.resend) this.#outbox.set(p.id, p);
      else p.settle(lost);
    }
  }

  /** Fails every request, waiting or in flight, with `err`. */
  failAll(err: TributaryError): void {
    const pending = [...this.#outbox.values(), ...this.#inflight.values()];
    this.#outbox.clear();
    this.#inflight.clear();
    for (const p of pending) p.settle(err);
  }

  #enqueue(p: Pending): void {
    if (this.#host.connection() !== undefined) this.transmit(p);
    else this.#outbox.set(p.id, p);
  }
}
