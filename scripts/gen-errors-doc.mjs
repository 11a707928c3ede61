// Writes docs/errors.md from the WL_ERR table, as compiled to dist/ (run `npx tsc -p tsconfig.json` first).
// With --check: exit 1 when the file is not what the table gives.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderErrorsDoc } from '../dist/src/errors-doc.js';

const file = fileURLToPath(new URL('../docs/errors.md', import.meta.url));
const text = renderErrorsDoc();
if (process.argv.includes('--check')) {
  let old = '';
  try {
    old = readFileSync(file, 'utf8');
  } catch {
    /* missing: differs */
  }
  if (old !== text) {
    console.error('docs/errors.md differs from WL_ERR in src/errors.ts: run node scripts/gen-errors-doc.mjs');
    process.exit(1);
  }
} else writeFileSync(file, text);
