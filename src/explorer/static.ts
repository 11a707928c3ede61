/**
 * The bundled front end (dist/web/, made by scripts/build-web.mjs from web/): a few files read once at start and
 * served from memory with their content types. Nothing comes from elsewhere (no CDN): the page works offline.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WirelogError } from '../errors.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

export interface StaticFile {
  body: Buffer;
  type: string;
}

/** dist/web relative to this module (dist/src/explorer/static.js). */
export function defaultWebDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
}

export class WebDirError extends WirelogError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WL_ERR_WEB', message, options);
  }
}

/** Every file of the directory (one level), keyed by `/name`; throws WebDirError when index.html is missing. */
export function loadWebFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    throw new WebDirError(`the explorer's page is not built: ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (run npm run build)`);
  }
  for (const name of names) {
    const p = path.join(dir, name);
    if (!fs.statSync(p).isFile()) continue;
    files.set('/' + name, { body: fs.readFileSync(p), type: TYPES[path.extname(name)] ?? 'application/octet-stream' });
  }
  if (!files.has('/index.html')) throw new WebDirError(`the explorer's page is not built: no ${path.join(dir, 'index.html')} (run npm run build)`);
  return files;
}
