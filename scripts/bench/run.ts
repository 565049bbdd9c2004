/**
 * Runs every benchmark and (re)writes BENCHMARKS.md at the repo root and
 * scripts/bench/results/latest.json (and the traffic shapes' scripts/bench/results/shapes.json).
 * `pnpm bench` at the root. Takes about 15 minutes, the traffic shapes about 6 of them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runBlocks } from './blocks.js';
import {
  BUNDLE_SIZE_SECTION_BEGIN,
  BUNDLE_SIZE_SECTION_END,
  renderBundleSizeSection,
  runBundleSize,
  type BundleSizeResult,
} from './bundle-size.js';
import { runFanout } from './fanout.js';
import { renderImagesSection, runImages, type ImagesBenchResult } from './images.js';
import { renderIsolationSection, runIsolation, type IsolationResult } from './isolation.js';
import { machineInfo } from './lib/machine.js';
import { renderReport, type BenchResults } from './report.js';
import { runRss } from './rss.js';
import { renderShapesSection, SHAPES_SECTION_BEGIN, SHAPES_SECTION_END } from './shapes-report.js';
import { runShapes, type ShapesResults } from './shapes.js';

const t0 = performance.now();
const log = (s: string): void => console.log(s);
const machine = machineInfo();
log(`machine: ${machine.cpus} × ${machine.cpuModel}, node ${machine.node}, redis ${machine.redis}`);

const fanout = await runFanout(log);
const rss = await runRss(log);
let blocks: BenchResults['blocks'];
try {
  blocks = await runBlocks(log);
} catch (err) {
  log(`blocks failed: ${(err as Error).stack ?? String(err)}`);
  blocks = { skipped: `failed: ${(err as Error).message}` };
}
let images: ImagesBenchResult | { skipped: string };
try {
  images = await runImages(log);
} catch (err) {
  log(`images failed: ${(err as Error).stack ?? String(err)}`);
  images = { skipped: `failed: ${(err as Error).message}` };
}
let isolation: IsolationResult | { skipped: string };
try {
  isolation = await runIsolation(log);
} catch (err) {
  log(`isolation failed: ${(err as Error).stack ?? String(err)}`);
  isolation = { skipped: `failed: ${(err as Error).message}` };
}

let bundleSize: BundleSizeResult | { skipped: string };
try {
  bundleSize = await runBundleSize(log);
} catch (err) {
  log(`bundle size failed: ${(err as Error).stack ?? String(err)}`);
  bundleSize = { skipped: `failed: ${(err as Error).message}` };
}

let shapes: ShapesResults | { skipped: string };
try {
  shapes = await runShapes({ log });
} catch (err) {
  log(`traffic shapes failed: ${(err as Error).stack ?? String(err)}`);
  shapes = { skipped: `failed: ${(err as Error).message}` };
}

const results: BenchResults = { machine, totalSeconds: (performance.now() - t0) / 1000, fanout, rss, blocks };
const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(resultsDir, { recursive: true });
writeFileSync(`${resultsDir}latest.json`, `${JSON.stringify({ ...results, images, isolation, bundleSize }, null, 2)}\n`);
if (!('skipped' in shapes)) writeFileSync(`${resultsDir}shapes.json`, `${JSON.stringify(shapes, null, 2)}\n`);
const report = fileURLToPath(new URL('../../BENCHMARKS.md', import.meta.url));
const imagesSection = 'skipped' in images ? `## Images\n\nskipped: ${images.skipped}` : renderImagesSection(images);
const isolationSection = 'skipped' in isolation ? `## Block isolation\n\nskipped: ${isolation.skipped}` : renderIsolationSection(isolation);
// A skipped bundle-size section keeps its markers, so `bundle-size.ts --write` can fill it in later.
const bundleSizeSection =
  'skipped' in bundleSize
    ? `${BUNDLE_SIZE_SECTION_BEGIN}\n## Client bundle size (browsers)\n\nskipped: ${bundleSize.skipped}\n${BUNDLE_SIZE_SECTION_END}`
    : renderBundleSizeSection(bundleSize);
const shapesSection =
  'skipped' in shapes
    ? `${SHAPES_SECTION_BEGIN}\n## Traffic shapes (issue 21)\n\nskipped: ${shapes.skipped}\n${SHAPES_SECTION_END}`
    : renderShapesSection(shapes);
writeFileSync(report, `${renderReport(results)}\n\n${shapesSection}\n\n${imagesSection}\n\n${isolationSection}\n\n${bundleSizeSection}\n`);
log(`wrote ${report} in ${Math.round(results.totalSeconds)} s`);
// Sockets the load generator closed may still be finishing their close handshakes.
process.exit(0);
