import { existsSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Router } from './http.js';

/** The built web UI: dist/ui beside dist/src (this file is dist/src/api/ui-static.js). */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));

/** Client-side routes of the single-page app; each serves index.html so a reload or a shared link works. */
export const UI_ROUTES = ['/dashboard', '/services', '/nodes', '/tasks', '/frameworks'];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.json', '.svg', '.map', '.txt']);
/** Files are small and few (one bundle); at most this many are held in memory. */
const MAX_CACHED_FILES = 256;

interface Cached {
  body: Buffer;
  gzip?: Buffer;
  mtimeMs: number;
}

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><title>dcos-ts</title>
<h1>The web UI is not built</h1><p>Run <code>npm run build</code> (or <code>node scripts/build-ui.mjs</code>) and reload.
The APIs work meanwhile: <a href="/mesos/master/state">/mesos/master/state</a>.</p></html>`;

/**
 * Serves the built UI: hashed files under /assets/ with a year-long immutable cache, index.html
 * with no-cache (so a new build is picked up), gzip when the client accepts it.
 */
export class UiFiles {
  private readonly cache = new Map<string, Cached>();
  constructor(readonly dir: string = DEFAULT_UI_DIR) {}

  private load(rel: string): Cached | undefined {
    const file = normalize(join(this.dir, rel));
    if (!file.startsWith(normalize(this.dir + sep)) && file !== normalize(this.dir)) return undefined;
    if (!existsSync(file) || !statSync(file).isFile()) return undefined;
    const mtimeMs = statSync(file).mtimeMs;
    const hit = this.cache.get(file);
    if (hit && hit.mtimeMs === mtimeMs) return hit;
    const body = readFileSync(file);
    const entry: Cached = { body, mtimeMs, ...(COMPRESSIBLE.has(extname(file)) && body.length > 1024 ? { gzip: gzipSync(body) } : {}) };
    if (this.cache.size >= MAX_CACHED_FILES) this.cache.clear();
    this.cache.set(file, entry);
    return entry;
  }

  send(req: IncomingMessage, res: ServerResponse, rel: string, cacheControl: string): boolean {
    const f = this.load(rel);
    if (!f) return false;
    const gz = f.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gz ? f.gzip! : f.body;
    res.writeHead(200, {
      'Content-Type': TYPES[extname(rel)] ?? 'application/octet-stream',
      'Content-Length': body.length,
      'Cache-Control': cacheControl,
      'X-Content-Type-Options': 'nosniff',
      Vary: 'Accept-Encoding',
      ...(gz ? { 'Content-Encoding': 'gzip' } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }

  index(req: IncomingMessage, res: ServerResponse): void {
    if (this.send(req, res, 'index.html', 'no-cache')) return;
    res.writeHead(200, { 'Content-Type': TYPES['.html']!, 'Cache-Control': 'no-cache' });
    res.end(NOT_BUILT);
  }
}

/** True when the client asked for JSON rather than a page (API clients hitting the cluster URL). */
export function wantsJson(req: IncomingMessage): boolean {
  const accept = String(req.headers.accept ?? '');
  return accept.includes('application/json') && !accept.includes('text/html');
}

/** Registers /assets/* and the client routes (index.html fallback). `/` itself stays with the gateway. */
export function uiRoutes(router: Router, files: UiFiles = new UiFiles()): UiFiles {
  router.on('GET', '/assets/*', (req, res, ctx) => {
    if (!files.send(req, res, `assets/${ctx.params.rest ?? ''}`, 'public, max-age=31536000, immutable')) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('No such UI asset (the UI may have been rebuilt: reload the page).\n');
    }
  });
  for (const r of UI_ROUTES) {
    router.on('GET', r, (req, res) => files.index(req, res));
    router.on('GET', `${r}/*`, (req, res) => files.index(req, res));
  }
  return files;
}
