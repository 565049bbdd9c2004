/**
 * A counting semaphore: at most `size` tasks run at once, the rest start in arrival order. The sharp
 * backend holds one for transforms and one for animations (see ImageLimits.maxConcurrent).
 */
export class Slots {
  readonly #size: number;
  #free: number;
  readonly #queue: Array<() => void> = [];

  constructor(size: number) {
    this.#size = size;
    this.#free = size;
  }

  /** Slots taken now. */
  get busy(): number {
    return this.#size - this.#free;
  }

  /** Runs `task` once a slot is free, and frees the slot when it settles. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#queue.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#queue.shift();
      if (next !== undefined) next();
      else this.#free++;
    }
  }
}
