/**
 * `@tributary/cli`: the `tributary` command, and `startNode` — a broker with the blocks runtime and
 * images wired in, for programs and tests that want a whole Tributary node in-process.
 */
export { startNode } from './node.js';
export type { NodeOptions, TributaryNode } from './node.js';
export { main } from './main.js';
