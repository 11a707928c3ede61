#!/usr/bin/env node
// The explorer's front end (web/) bundled by esbuild into dist/web/: index.html, app.js, app.css. Everything it
// uses (Preact, TanStack Virtual, cytoscape) is in the bundle: the page loads nothing from elsewhere.
// esbuild only transpiles the TSX (JSX via Preact's automatic runtime); `tsc -p web/tsconfig.json` (in npm run build) type-checks.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'web');
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });

await build({
  entryPoints: { app: path.join(root, 'web', 'src', 'main.tsx') },
  outdir: out,
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: process.env.WIRELOG_WEB_DEV !== '1',
  sourcemap: false,
  legalComments: 'linked',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});
fs.copyFileSync(path.join(root, 'web', 'app.css'), path.join(out, 'app.css'));
fs.copyFileSync(path.join(root, 'web', 'index.html'), path.join(out, 'index.html'));
console.log(`web: ${path.relative(root, out)}/ (${fs.readdirSync(out).join(', ')})`);
