import type { Principal } from '@tributary/server';
import { authenticate } from './auth.js';

/**
 * A connection's credentials: who it is, and the timer that ends it when its token expires. A
 * session asks it who the caller is on every request, renews it on an `auth` frame, and is told
 * once the token has run out.
 */
export class Credentials {
  #principal: Principal;
  #expiry: NodeJS.Timeout | undefined;
  readonly #onExpired: () => void;

  constructor(principal: Principal, onExpired: () => void) {
    this.#principal = principal;
    this.#onExpired = onExpired;
    this.#arm();
  }

  get principal(): Principal {
    return this.#principal;
  }

  /** Verifies `token` (a typed error when it is not good) and makes it the connection's credentials. */
  async renew(token: string, secret: string): Promise<{ before: Principal; after: Principal }> {
    const before = this.#principal;
    this.#principal = await authenticate(token, secret);
    this.#arm();
    return { before, after: this.#principal };
  }

  stop(): void {
    clearTimeout(this.#expiry);
  }

  #arm(): void {
    clearTimeout(this.#expiry);
    const at = this.#principal.expiresAt;
    if (at === undefined) return;
    // setTimeout overflows past 2^31-1 ms (~24.8 days); such tokens are re-checked on each request.
    const delay = Math.min(at - Date.now(), 2 ** 31 - 1);
    this.#expiry = setTimeout(
      () => {
        const at = this.#principal.expiresAt;
        if (at === undefined) return;
        // Timers may fire a millisecond early (or at the 24.8-day cap): not yet expired means re-arm,
        // never forget — an expired connection must not keep receiving.
        if (at > Date.now()) return this.#arm();
        this.#onExpired();
      },
      Math.max(0, delay),
    );
    this.#expiry.unref();
  }
}
