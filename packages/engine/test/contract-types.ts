import type { EngineOptions, StreamEngine } from '../src/index.js';

// The types of the engine contract suite, apart so each part of the suite (contract-*.ts) can use
// them without importing the suite that imports it.

/** An engine under test and how to dispose of it. */
export interface EngineFixture {
  engine: StreamEngine;
  cleanup(): Promise<void>;
  /**
   * How many records the backend holds right now: Redis keys under the test's prefix, or the memory
   * engine's per-channel and per-pattern entries. Reads must not make it grow.
   */
  storedRecords(): Promise<number>;
}

/**
 * Makes an engine. Every call on a `shared` backend must return an engine on the same store, so
 * that what one instance appends, another sees (that is how several broker nodes share channels).
 */
export type MakeEngine = (options?: EngineOptions) => Promise<EngineFixture>;

/** What a backend can do beyond the common contract. */
export interface EngineCapabilities {
  /** Two engine instances from `make` share one store (Redis: yes; memory: each is its own). */
  shared: boolean;
}
