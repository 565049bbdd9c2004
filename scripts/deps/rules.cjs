// The layer rules `pnpm lint:deps` checks with dependency-cruiser (docs/ARCHITECTURE.md, Layers).
// Packages are layered one way: a package's source may import packages on lower layers only —
// never one on its own layer (siblings stay independent) or above. Tests may also use testkit and
// the layers above their package (a test of the broker may start a whole node). No import cycles
// anywhere, in source or tests.

const { LAYERS } = require('./layers.cjs');

const names = Object.keys(LAYERS);
const layerRules = names.map((pkg) => {
  const above = names.filter((other) => other !== pkg && LAYERS[other] >= LAYERS[pkg]);
  return {
    name: `layers-${pkg}`,
    comment: `packages/${pkg}/src (layer ${LAYERS[pkg]}) may import only packages on lower layers`,
    severity: 'error',
    from: { path: `^packages/${pkg}/src/` },
    to: { path: `^packages/(${above.join('|')})/` },
  };
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle: modules that cannot be understood (or loaded) one without the other.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve: a package used but not declared in package.json, or a typo.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-unknown-package',
      comment: 'Every workspace package has a layer in scripts/deps/rules.cjs.',
      severity: 'error',
      from: { path: '^packages/' },
      to: { path: `^packages/(?!(${names.join('|')})/)[^/]+/` },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist|fixtures)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    combinedDependencies: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
    },
  },
};
