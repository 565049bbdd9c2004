import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROTOCOL_VERSION } from '@tributary/protocol';
import { describe, expect, it } from 'vitest';
import { REPO } from './project.js';

// What docs/PACKAGES.md promises of every published manifest, checked without building anything
// (outside.e2e.test.ts installs the packed result).

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  engines?: { node?: string };
  repository?: { directory?: string };
  files?: string[];
  sideEffects?: boolean;
  exports: Record<string, string>;
  bin?: Record<string, string>;
  dependencies?: Record<string, string>;
  publishConfig?: { access?: string; exports?: Record<string, Record<string, string>>; bin?: Record<string, string> };
}

const read = <T>(file: string): T => JSON.parse(readFileSync(join(REPO, file), 'utf8')) as T;
const { PUBLISHED } = (await import(pathToFileURL(join(REPO, 'scripts/release/packages.mjs')).href)) as { PUBLISHED: string[] };
const manifests = Object.fromEntries(PUBLISHED.map((dir) => [dir, read<Manifest>(`packages/${dir}/package.json`)]));

describe('published package manifests', () => {
  it('every package under packages/ is either in the release list or private', () => {
    for (const dir of readdirSync(join(REPO, 'packages'))) {
      if (!existsSync(join(REPO, 'packages', dir, 'package.json'))) continue;
      const m = read<Manifest>(`packages/${dir}/package.json`);
      expect(PUBLISHED.includes(dir) || m.private === true, `${m.name} is neither published nor private`).toBe(true);
    }
  });

  it.each(PUBLISHED)('%s has the fields npm shows and an exports map into dist/ for every entry', (dir) => {
    const m = manifests[dir] as Manifest;
    expect(m.private).toBeUndefined();
    expect(m).toMatchObject({ license: 'MIT', engines: { node: '>=20.9' }, repository: { directory: `packages/${dir}` } });
    expect(m.files).toEqual(expect.arrayContaining(['dist', 'CHANGELOG.md']));
    expect(m.publishConfig?.access).toBe('public');
    expect(existsSync(join(REPO, 'packages', dir, 'CHANGELOG.md'))).toBe(true);
    expect(existsSync(join(REPO, 'packages', dir, 'tsconfig.build.json'))).toBe(true);
    // The workspace's exports (TypeScript source) and the published ones (dist/) name the same entries.
    const published = m.publishConfig?.exports ?? {};
    expect(Object.keys(published)).toEqual(Object.keys(m.exports));
    for (const [entry, source] of Object.entries(m.exports)) {
      const base = source.replace(/^\.\/src\//, './dist/').replace(/\.ts$/, '');
      expect(published[entry], entry).toEqual({ types: `${base}.d.ts`, import: `${base}.js`, default: `${base}.js` });
    }
    // Built packages run no TypeScript loader: nothing published depends on tsx.
    expect(Object.keys(m.dependencies ?? {})).not.toContain('tsx');
    if (m.bin !== undefined) expect(Object.keys(m.publishConfig?.bin ?? {})).toEqual(Object.keys(m.bin));
  });

  it('the packages browsers load declare no side effects', () => {
    for (const dir of ['protocol', 'server', 'client', 'block']) expect(manifests[dir]?.sideEffects, dir).toBe(false);
  });

  it('all share one version, as one Changesets fixed group, and the docs relate it to the wire protocol', () => {
    const versions = new Set(Object.values(manifests).map((m) => m.version));
    expect(versions.size).toBe(1);
    const config = read<{ fixed: string[][] }>('.changeset/config.json');
    expect(config.fixed).toEqual([PUBLISHED.map((dir) => manifests[dir]?.name)]);
    const [version] = [...versions] as [string];
    const line = version.replace(/^(\d+\.\d+)\.\d+.*$/, '$1.x');
    const docs = readFileSync(join(REPO, 'docs/PACKAGES.md'), 'utf8');
    expect(docs).toContain(`| ${line} | ${PROTOCOL_VERSION} |`);
  });
});
