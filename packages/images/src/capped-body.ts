import type { IncomingMessage } from 'node:http';
import { ErrorCodes, TributaryError } from '@tributary/protocol';
import { ImageError, ImageErrorCodes } from './errors.js';

/**
 * An upload's request body, read as it arrives with its size cap enforced on the stream: the
 * first bytes can be looked at ({@link head}) before the rest flows to the store ({@link body}),
 * and nothing is ever held beyond what the consumer has not taken yet. Passing `max` fails the
 * body with TOO_LARGE at that chunk, and {@link race} settles at once, so the 413 goes out while
 * the client is still sending and the store's own cleanup (a temp file, an aborted multipart
 * upload) goes on behind it. A request that is aborted fails with protocol's CLOSED, as
 * `readBodyBytes` (@tributary/server) does.
 */
export class CappedBody {
  readonly max: number;
  /** Bytes read from the request so far. */
  received = 0;
  readonly #it: AsyncIterator<unknown>;
  readonly #early: Buffer[] = [];
  #ended = false;
  #fail!: (err: unknown) => void;
  readonly #failed: Promise<never>;

  constructor(req: IncomingMessage, max: number) {
    this.max = max;
    // Not destroyed when the reader stops early: the answer still has to go out on its socket,
    // and the rest of the body is drained after it (routes.ts, answerEarly).
    this.#it = req.iterator({ destroyOnReturn: false })[Symbol.asyncIterator]();
    this.#failed = new Promise<never>((_, reject) => {
      this.#fail = reject;
    });
    this.#failed.catch(() => {});
  }

  /** The first `n` bytes (fewer when the body is shorter), kept to be sent on by {@link body}. */
  async head(n: number): Promise<Buffer> {
    let have = this.#early.reduce((s, c) => s + c.length, 0);
    while (have < n && !this.#ended) {
      const c = await this.#next();
      if (c === undefined) break;
      this.#early.push(c);
      have += c.length;
    }
    return Buffer.concat(this.#early).subarray(0, n);
  }

  /** The whole body, from its first byte (those {@link head} read included). Iterate it once. */
  async *body(): AsyncGenerator<Buffer> {
    let done = false;
    try {
      while (this.#early.length > 0) yield this.#early.shift() as Buffer;
      for (;;) {
        const c = await this.#next();
        if (c === undefined) break;
        yield c;
      }
      done = true;
    } finally {
      if (!done && !this.#ended) await this.#it.return?.(undefined);
    }
  }

  /** `work` (the store's put of {@link body}), or the body's failure as soon as it happens. */
  race<T>(work: Promise<T>): Promise<T> {
    work.catch(() => {});
    return Promise.race([work, this.#failed]);
  }

  async #next(): Promise<Buffer | undefined> {
    let r: IteratorResult<unknown>;
    try {
      r = await this.#it.next();
    } catch (err) {
      this.#ended = true;
      throw this.#failWith(new TributaryError(ErrorCodes.CLOSED, 'request aborted', { cause: err }));
    }
    if (r.done === true) {
      this.#ended = true;
      return undefined;
    }
    const c = r.value as Buffer;
    this.received += c.length;
    if (this.received > this.max) {
      this.#ended = true;
      await this.#it.return?.(undefined);
      throw this.#failWith(new ImageError(ImageErrorCodes.TOO_LARGE, `upload is over ${this.max} bytes; the token allows ${this.max}`));
    }
    return c;
  }

  #failWith(err: unknown): unknown {
    this.#fail(err);
    return err;
  }
}
