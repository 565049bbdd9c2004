/**
 * `@tributary/node`: one Tributary node — engine, Publisher, metrics registry and logger built first,
 * then injected into the broker, the blocks runtime and images. The `tributary start` command and
 * every program or test that wants a whole node in-process call {@link startNode}.
 */
export { startNode, INSECURE_IMAGE_SECRET } from './node.js';
export type { NodeOptions, TributaryNode } from './node.js';
