/**
 * The packages published to npm, each after the packages it imports (the build order). The rest of
 * packages/ (testkit, reliability) and blocks/, examples/ and scripts/ stay private to this workspace.
 */
export const PUBLISHED = [
  'protocol',
  'server',
  'client',
  'block',
  'engine',
  'broker',
  'runtime',
  'images',
  'console',
  'node',
  'mqtt-bridge',
  'cli',
];
