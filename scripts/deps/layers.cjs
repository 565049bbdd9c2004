// The layer of each workspace package (docs/ARCHITECTURE.md, "Packages and layers", shows the same
// table; scripts/deps/check-doc.mjs holds the two together).

/** Layer of each workspace package: lower layers know nothing of higher ones. */
const LAYERS = {
  protocol: 0,
  engine: 1,
  client: 1,
  block: 1,
  server: 1,
  broker: 2,
  runtime: 2,
  images: 2,
  console: 2,
  'mqtt-bridge': 2,
  node: 3,
  testkit: 3,
  cli: 4,
  reliability: 5,
};

module.exports = { LAYERS };
