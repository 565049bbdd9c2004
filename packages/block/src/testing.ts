/**
 * `@tributary/block/testing`: run a block's handler in a unit test, in the same isolate runtime and
 * limits as production, with kv, publish, fetch and logs recorded — no broker needed. For tests
 * only: it loads `@tributary/runtime` (isolated-vm, esbuild), which block code itself never does.
 */
export { testBlock } from '@tributary/runtime/testing';
export type { BlockHarness, RunRecord, TestBlockOptions, FakeResponse } from '@tributary/runtime/testing';
