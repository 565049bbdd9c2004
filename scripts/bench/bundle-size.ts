/**
 * Client bundle size for browsers (issue #22): @tributary/client beside socket.io-client, centrifuge
 * and ably, each bundled the same way — esbuild, platform browser, ESM, minified, every dependency
 * bundled — and gzipped at level 9. The measurement is the one the client's budget test uses
 * (packages/client/test/browser-bundle.ts), so the number here and the number CI checks agree.
 *
 * Run alone: node --import tsx scripts/bench/bundle-size.ts [--write]
 *   --write replaces (or appends) the "Client bundle size (browsers)" section of BENCHMARKS.md.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
// The measurement lives beside the client's budget test; reached by path, as isolation.ts reaches the client.
import {
  BROWSER_BUILD_OPTIONS,
  CLIENT_DIR,
  CLIENT_ENTRY,
  ESBUILD_VERSION,
  GZIP_LEVEL,
  measureBrowserBundle,
} from '../../packages/client/test/browser-bundle.js';
import { machineInfo, type MachineInfo } from './lib/machine.js';
import { BENCHMARKS_FILE, replaceSection } from './lib/section.js';

/** The client's budget, min+gzip bytes (packages/client/test/bundle-size.test.ts checks it). */
export const CLIENT_BUDGET_BYTES = 8 * 1024;

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));

/** One bundle to measure. */
interface Subject {
  /** What the row is called. */
  name: string;
  /** The npm package whose version is reported. */
  pkg: string;
  /** Where the package's package.json is (its `exports` need not list it). */
  packageJson: string;
  /** The entry module: what an application imports. */
  entry: string;
  /** Where the entry's imports resolve from. */
  resolveDir: string;
}

const peer = (name: string, pkg: string, entry: string): Subject => ({
  name,
  pkg,
  packageJson: `${BENCH_DIR}node_modules/${pkg}/package.json`,
  entry,
  resolveDir: BENCH_DIR,
});

export const SUBJECTS: readonly Subject[] = [
  {
    name: '@tributary/client',
    pkg: '@tributary/client',
    packageJson: `${CLIENT_DIR}package.json`,
    entry: CLIENT_ENTRY,
    resolveDir: CLIENT_DIR,
  },
  peer('socket.io-client', 'socket.io-client', "export { io } from 'socket.io-client';"),
  peer('centrifuge', 'centrifuge', "export { Centrifuge } from 'centrifuge';"),
  peer('ably (default: Realtime)', 'ably', "export { Realtime } from 'ably';"),
  // BaseRealtime needs one transport and one HTTP request implementation (ably's modular.d.ts).
  peer('ably/modular, minimum', 'ably', "export { BaseRealtime, WebSocketTransport, FetchRequest } from 'ably/modular';"),
  // Presence is a plugin in the modular build; the Tributary client has presence built in.
  peer(
    'ably/modular + presence',
    'ably',
    "export { BaseRealtime, WebSocketTransport, FetchRequest, RealtimePresence } from 'ably/modular';",
  ),
];

/** One measured row. */
export interface BundleRow {
  name: string;
  pkg: string;
  version: string;
  entry: string;
  minBytes: number;
  gzipBytes: number;
  /** npm packages whose code is in the bundle (none for the client: workspace source only). */
  packages: string[];
}

export interface BundleSizeResult {
  machine: MachineInfo;
  esbuild: string;
  gzipLevel: number;
  rows: BundleRow[];
}

/** The npm package an input path of the metafile belongs to, if any (pnpm's layout or a flat one). */
function packageOf(path: string): string | undefined {
  const m = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\//.exec(path);
  return m?.[1];
}

export async function runBundleSize(log: (s: string) => void = console.log): Promise<BundleSizeResult> {
  log(`bundle size: esbuild ${ESBUILD_VERSION}, ${JSON.stringify(BROWSER_BUILD_OPTIONS)}, gzip -${GZIP_LEVEL}`);
  const rows: BundleRow[] = [];
  for (const s of SUBJECTS) {
    const b = await measureBrowserBundle(s.entry, s.resolveDir);
    if (b.warnings.length > 0) log(`  ${s.name}: esbuild warnings: ${b.warnings.join('; ')}`);
    const version = (JSON.parse(readFileSync(s.packageJson, 'utf8')) as { version: string }).version;
    const packages = [...new Set(Object.keys(b.output.inputs).flatMap((p) => packageOf(p) ?? []))].sort();
    rows.push({ name: s.name, pkg: s.pkg, version, entry: s.entry, minBytes: b.minBytes, gzipBytes: b.gzipBytes, packages });
    log(`  ${s.name} ${version}: ${b.minBytes} B minified, ${b.gzipBytes} B min+gzip`);
  }
  return { machine: machineInfo(), esbuild: ESBUILD_VERSION, gzipLevel: GZIP_LEVEL, rows };
}

export const BUNDLE_SIZE_SECTION_BEGIN = '<!-- bundle-size-bench:begin -->';
export const BUNDLE_SIZE_SECTION_END = '<!-- bundle-size-bench:end -->';

const kb = (bytes: number): string => (bytes / 1024).toFixed(1);
const int = (n: number): string => n.toLocaleString('en-US');

/**
 * What each peer's bundle carries that the Tributary client's does not, read from their sources in
 * node_modules (the bundled files named in the metafile), so that the sizes are compared knowingly.
 */
const CARRIES: Record<string, string> = {
  'socket.io-client':
    'engine.io: HTTP long-polling fallback (XHR) and the upgrade from polling to WebSocket, a WebTransport transport; ' +
    'socket.io-parser with binary attachments; namespaces multiplexed over one Manager; acknowledgement callbacks. ' +
    'It has no history, presence or resume from a stream position (connection state recovery is server-side and time-bounded).',
  centrifuge:
    'Transports besides WebSocket: HTTP-streaming, SSE, WebTransport and a SockJS adapter, with bidirectional emulation over HTTP; ' +
    'fossil delta decoding; map and shared-poll subscriptions, server-side subscriptions, RPC, batching; ' +
    'an inlined copy of the `events` package. The JSON protocol only (protobuf is a separate entry, `centrifuge/build/protobuf`).',
  'ably (default: Realtime)':
    'Everything the modular build makes optional: the REST API client (stats, batch, push admin), encryption (Crypto), MessagePack, ' +
    'presence, annotations, XHR polling fallback and XHR requests beside fetch; the prebuilt UMD file cannot be tree-shaken.',
  'ably/modular, minimum':
    'What `BaseRealtime` keeps whatever plugins are passed: token auth with token requests (`requestToken`, `createTokenRequest`), ' +
    'message encodings (base64 and the hooks for ciphers and vcdiff deltas), the REST-style request layer behind `FetchRequest`, ' +
    'and its connection and channel state machines; no presence (a plugin, next row).',
  'ably/modular + presence': 'The row above plus the `RealtimePresence` plugin: the closest to the Tributary client’s feature set.',
};

export function renderBundleSizeSection(r: BundleSizeResult): string {
  const ours = r.rows.find((x) => x.pkg === '@tributary/client');
  const L: string[] = [BUNDLE_SIZE_SECTION_BEGIN, '## Client bundle size (browsers)', ''];
  L.push(
    `Measured ${r.machine.date} by scripts/bench/bundle-size.ts (\`node --import tsx scripts/bench/bundle-size.ts --write\` reruns only this section) ` +
      `on ${r.machine.cpus} × ${r.machine.cpuModel}, Node ${r.machine.node}; sizes do not depend on the machine. ` +
      `Each entry module below is bundled by esbuild ${r.esbuild} with \`${JSON.stringify(BROWSER_BUILD_OPTIONS)}\` ` +
      `(every dependency bundled, resolved with the \`browser\` conditions, nothing external), and the minified output is gzipped with node:zlib at level ${r.gzipLevel}. ` +
      "The client's entry is its whole public API, so nothing it exports is tree-shaken away; the peers' entries are what an application imports to connect. " +
      'packages/client/test/bundle-size.test.ts makes the same measurement in CI (packages/client/test/browser-bundle.ts is shared).',
    '',
  );
  if (ours !== undefined) {
    L.push('| target (issue #22) | measured | |', '|---|---|---|');
    L.push(
      `| the client's browser bundle ≤ ${kb(CLIENT_BUDGET_BYTES)} KiB min+gzip | ${int(ours.gzipBytes)} B (${kb(ours.gzipBytes)} KiB) | ${ours.gzipBytes <= CLIENT_BUDGET_BYTES ? '**met**' : '**missed**'} |`,
    );
    L.push(
      `| no runtime dependencies in the browser | npm packages in the bundle: ${ours.packages.length === 0 ? 'none (the client and `@tributary/protocol/wire` source only)' : ours.packages.join(', ')} | ${ours.packages.length === 0 ? '**met**' : '**missed**'} |`,
      '',
    );
  }
  L.push('| bundle | version | entry | minified | min+gzip | × ours | npm packages in the bundle |', '|---|---|---|---|---|---|---|');
  for (const x of r.rows) {
    const ratio = ours === undefined || x === ours ? '' : `${(x.gzipBytes / ours.gzipBytes).toFixed(1)}×`;
    const name = x === ours ? `**${x.name}**` : x.name;
    const gz = x === ours ? `**${int(x.gzipBytes)} B** (${kb(x.gzipBytes)} KiB)` : `${int(x.gzipBytes)} B (${kb(x.gzipBytes)} KiB)`;
    L.push(
      `| ${name} | ${x.version} | \`${x.entry}\` | ${int(x.minBytes)} B | ${gz} | ${ratio} | ${x.packages.length === 0 ? '—' : x.packages.join(', ')} |`,
    );
  }
  L.push('');
  L.push(
    "**What the peers' bundles carry that ours does not**, so the comparison is read fairly. The Tributary client speaks one transport " +
      '(a WebSocket with JSON frames) and has no fallback when WebSockets are blocked, no binary encoding, no encryption and no REST client; ' +
      'it does carry publish acknowledgements, history, presence, pattern subscriptions, token refresh, reconnect with resume from a stream position, and failover between URLs.',
    '',
  );
  for (const x of r.rows) {
    const carries = CARRIES[x.name];
    if (carries !== undefined) L.push(`- **${x.name}**: ${carries}`);
  }
  L.push(
    '',
    "The client reaches `ws` (Node's WebSocket before v22) through an `import()` of a computed name (packages/client/src/transport.ts), " +
      "which bundlers leave alone: a browser bundle holds no `ws`, not even its throwing stub. Before that change the client's bundle was 7,840 B min+gzip.",
    '',
    BUNDLE_SIZE_SECTION_END,
  );
  return L.join('\n');
}

export function writeBundleSizeSection(section: string, file = BENCHMARKS_FILE): void {
  replaceSection(BUNDLE_SIZE_SECTION_BEGIN, BUNDLE_SIZE_SECTION_END, section, file);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await runBundleSize();
  console.log('');
  console.table(r.rows.map((x) => ({ bundle: x.name, version: x.version, minified: x.minBytes, 'min+gzip': x.gzipBytes })));
  const section = renderBundleSizeSection(r);
  console.log(`\n${section}`);
  if (process.argv.includes('--write')) {
    writeBundleSizeSection(section);
    console.log('wrote the client bundle size section of BENCHMARKS.md');
  }
}
