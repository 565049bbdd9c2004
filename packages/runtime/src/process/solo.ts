import type { ToRunner } from './messages.js';

/**
 * After an exit that took several loads or invocations, the next process runs one at a time for this
 * long (and until one succeeded): the culprit then crashes alone and is blamed, and its neighbours
 * are not taken down with it again and again.
 */
export const SOLO_MS = 10_000;

/**
 * The work a runner process is given (loads, invocations, runs), sent at once normally, or one
 * piece at a time after a crash that several pieces witnessed: a block that crashes its runner
 * every time would otherwise keep taking its neighbours' invocations down with it, and a retry
 * policy cannot tell which one of them was the cause.
 */
export class SoloGate {
  readonly #send: (message: ToRunner) => void;
  /** One at a time until then, and until a piece of work succeeded; 0 = off. */
  #until = 0;
  #succeeded = false;
  /** The ids (invocations, or a load's sandbox) of the one piece of work sent. */
  readonly #outstanding = new Set<number>();
  /** Work waiting its turn, with the ids it settles by. */
  #held: Array<{ message: ToRunner; ids: number[] }> = [];

  constructor(send: (message: ToRunner) => void) {
    this.#send = send;
  }

  /** Whether work goes one piece at a time now. */
  get on(): boolean {
    return this.#until !== 0;
  }

  /** Sends work that settles by `ids`: at once, or when the work before it has settled. */
  submit(message: ToRunner, ids: number[]): void {
    if (this.#until === 0) {
      this.#send(message);
      return;
    }
    this.#held.push({ message, ids });
    if (this.#outstanding.size === 0) this.#next();
  }

  /** A load or invocation settled: the next piece of work may go. */
  settled(id: number, ok: boolean): void {
    if (this.#until === 0 || !this.#outstanding.delete(id)) return;
    if (ok) this.#succeeded = true;
    if (this.#outstanding.size === 0) this.#next();
  }

  /**
   * The process exited having witnessed `witnessed` pieces of work: forgets what it held and
   * returns the ids of the work it never sent (which cannot have caused the exit). After a crash
   * several pieces witnessed, the next process starts one at a time; a crash of the one piece sent
   * keeps it so from the restart.
   */
  exited(witnessedOf: (held: ReadonlySet<number>) => number): ReadonlySet<number> {
    const held = new Set(this.#held.flatMap((h) => h.ids));
    this.#held = [];
    this.#outstanding.clear();
    if (witnessedOf(held) > 1) {
      this.#until = Date.now() + SOLO_MS;
      this.#succeeded = false;
    } else if (this.#until !== 0) {
      this.#until = Math.max(this.#until, Date.now() + SOLO_MS);
    }
    return held;
  }

  #next(): void {
    if (this.#succeeded && Date.now() >= this.#until) {
      // Over: what waited goes at once.
      this.#until = 0;
      for (const h of this.#held) this.#send(h.message);
      this.#held = [];
      return;
    }
    const work = this.#held.shift();
    if (work === undefined) return;
    for (const id of work.ids) this.#outstanding.add(id);
    this.#send(work.message);
  }
}
