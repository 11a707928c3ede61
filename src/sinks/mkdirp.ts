/**
 * `mkdir -p`, one level at a time. Node 20's `mkdirSync(dir, { recursive: true })` never returns for a path under a
 * filesystem that answers ENOENT to every mkdir (e.g. `/proc/x`): it retries the same parent forever. Here each
 * level is tried once, and the first error that is not EEXIST is thrown (naming the level that failed).
 */
import fs from 'node:fs';
import path from 'node:path';

export function mkdirp(dir: string, mode?: number): void {
  const abs = path.resolve(dir);
  const missing: string[] = [];
  for (let d = abs; ; d = path.dirname(d)) {
    if (fs.existsSync(d)) break;
    missing.push(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d, mode === undefined ? undefined : { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  if (!fs.statSync(abs).isDirectory()) {
    const e = new Error(`ENOTDIR: not a directory, mkdir '${abs}'`) as NodeJS.ErrnoException;
    e.code = 'ENOTDIR';
    throw e;
  }
}
