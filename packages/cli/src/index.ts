/**
 * `@tributary/cli`: the `tributary` command. It parses flags and calls `startNode` from
 * `@tributary/node`, the composition root, which programs and tests use directly.
 */
export { main } from './main.js';
