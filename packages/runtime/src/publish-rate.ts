/**
 * One block's publishes per second on one runner, across its invocations and lanes: a token bucket
 * holding one second's worth (`perSecond` tokens), refilled continuously. A block that fans each
 * message into many publishes gets at most a burst of `perSecond`, then `perSecond` a second.
 * Time is `Date.now()`, read on each take.
 */
export class PublishRate {
  #perSecond: number;
  #tokens: number;
  #at: number;

  constructor(perSecond: number) {
    this.#perSecond = perSecond;
    this.#tokens = perSecond;
    this.#at = Date.now();
  }

  /** The rate a redeployed version declares; tokens already spent stay spent. */
  set perSecond(perSecond: number) {
    this.#refill();
    this.#perSecond = perSecond;
    this.#tokens = Math.min(this.#tokens, perSecond);
  }

  get perSecond(): number {
    return this.#perSecond;
  }

  /** Takes one token; false when the bucket is empty (the publish is refused). */
  take(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }

  #refill(): void {
    const now = Date.now();
    if (now > this.#at) this.#tokens = Math.min(this.#perSecond, this.#tokens + ((now - this.#at) * this.#perSecond) / 1000);
    this.#at = now;
  }
}
