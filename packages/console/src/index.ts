import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { json, type HttpRoute } from '@tributary/server';

/** Where the console is served. */
export const CONSOLE_PATH = '/console';

/** The folder of the console's static files (plain ES modules: nothing to build). */
export const CONSOLE_APP_DIR = resolve(fileURLToPath(new URL('../app', import.meta.url)));

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/**
 * Everything comes from this origin: no CDN, no inline script, no framing. `connect-src 'self'`
 * covers the same-origin WebSocket (CSP Level 3).
 */
const HEADERS = {
  'content-security-policy':
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
} as const;

/**
 * Browser modules the app imports from its dependencies, served from where the package manager put
 * them (`/console/vendor/<name>`), so nothing is copied by hand and the version is the lockfile's.
 * dagre's ESM build is one self-contained file (graphlib inlined, no imports), so it loads as it is.
 */
export const CONSOLE_VENDOR: Readonly<Record<string, string>> = {
  'vendor/dagre.js': packageModule('@dagrejs/dagre'),
};

/** The file a package declares as its ES module entry (`exports["."].import`). */
function packageModule(name: string): string {
  const manifest = createRequire(import.meta.url).resolve(`${name}/package.json`);
  const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { exports?: { '.'?: { import?: string } }; module?: string };
  const entry = pkg.exports?.['.']?.import ?? pkg.module;
  if (entry === undefined) throw new Error(`${name} declares no ES module entry`);
  return join(dirname(manifest), entry);
}

/** Options of {@link consoleRoute}. */
export interface ConsoleRouteOptions {
  /** Folder to serve. @defaultValue {@link CONSOLE_APP_DIR} */
  dir?: string;
}

/**
 * The broker route serving the console's static files at `/console/`. The files are public (they
 * hold no data: `allowAnonymous`); the app asks for the broker secret and sends it to the admin API
 * as a bearer token, so every piece of data stays behind the secret.
 */
export function consoleRoute(options: ConsoleRouteOptions = {}): HttpRoute {
  const root = resolve(options.dir ?? CONSOLE_APP_DIR);
  return {
    prefix: CONSOLE_PATH,
    allowAnonymous: true,
    async handle(req, res, _caller, url) {
      const rest = url.pathname.slice(CONSOLE_PATH.length);
      if (req.method !== 'GET' && req.method !== 'HEAD') return notFound(res, 405);
      // '/console' → '/console/' so the app's relative module URLs resolve under it.
      if (rest === '') return void res.writeHead(308, { location: `${CONSOLE_PATH}/` }).end();
      if (!rest.startsWith('/')) return notFound(res, 404); // '/consolefoo' is not ours
      const rel = rest === '/' ? 'index.html' : decodeSafe(rest.slice(1));
      const type = rel === undefined ? undefined : TYPES[extname(rel)];
      const vendored = rel !== undefined && Object.hasOwn(CONSOLE_VENDOR, rel) ? CONSOLE_VENDOR[rel] : undefined;
      const file = vendored ?? (rel === undefined ? undefined : resolve(join(root, rel)));
      if (type === undefined || file === undefined || (vendored === undefined && !file.startsWith(root + sep))) return notFound(res, 404);
      let body: Buffer;
      try {
        body = await readFile(file);
      } catch {
        return notFound(res, 404);
      }
      res.writeHead(200, { ...HEADERS, 'content-type': type, 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
  };
}

function decodeSafe(s: string): string | undefined {
  try {
    const d = decodeURIComponent(s);
    return d.includes('\0') ? undefined : d;
  } catch {
    return undefined;
  }
}

function notFound(res: ServerResponse, status: 404 | 405): void {
  json(res, status, { error: { code: 'NOT_FOUND', message: status === 405 ? 'the console is read with GET' : 'no such console file' } });
}
