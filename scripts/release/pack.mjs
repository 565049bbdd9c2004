// Builds and packs every published package into one folder of tarballs, as `pnpm publish` would
// upload them: publishConfig applied (exports and bin point at dist/), `workspace:*` replaced by
// versions, the license file included. Usage: node scripts/release/pack.mjs [OUT_DIR]
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from './build.mjs';
import { PUBLISHED } from './packages.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** pnpm as this process was started by it, or the version the workspace pins, through npx. */
function pnpm() {
  const execPath = process.env.npm_execpath;
  if (execPath !== undefined && /pnpm/.test(execPath)) return [process.execPath, execPath];
  const { packageManager } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  return ['npx', '-y', packageManager];
}

/**
 * Builds the published packages and packs each into `outDir`; returns the tarball paths by
 * package name (e.g. '@tributary/client' → '/tmp/x/tributary-client-0.1.0.tgz').
 */
export function packAll(outDir) {
  build();
  mkdirSync(outDir, { recursive: true });
  const [command, ...prefix] = pnpm();
  const tarballs = {};
  for (const name of PUBLISHED) {
    const dir = join(ROOT, 'packages', name);
    const { name: pkgName, version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    // One license file at the root, copied in for the pack only.
    copyFileSync(join(ROOT, 'LICENSE'), join(dir, 'LICENSE'));
    try {
      execFileSync(command, [...prefix, 'pack', '--pack-destination', resolve(outDir)], { cwd: dir, stdio: 'pipe' });
    } finally {
      rmSync(join(dir, 'LICENSE'));
    }
    tarballs[pkgName] = join(resolve(outDir), `${pkgName.slice(1).replace('/', '-')}-${version}.tgz`);
  }
  return tarballs;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const tarballs = packAll(process.argv[2] ?? 'packed');
  for (const file of Object.values(tarballs)) process.stdout.write(`${file}\n`);
}
