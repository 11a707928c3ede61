/**
 * `node dist/fuzz/write-seeds.js DIR`: the seed corpus of every target (fuzz/seeds.ts) written under DIR/<target>/,
 * one file per seed named by its SHA-1. (A module of its own: the targets import seeds.ts.)
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import type { FuzzTarget } from './target.js';

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write('usage: node dist/fuzz/write-seeds.js DIR (writes the seed corpus of every target under DIR/<target>/)\n');
  process.exit(2);
}
const targets = readdirSync(join(dirname(fileURLToPath(import.meta.url)), 'targets')).filter((f) => f.endsWith('.js')).sort();
for (const t of targets) {
  const { target } = (await import(`./targets/${t}`)) as { target: FuzzTarget };
  const d = join(dir, target.name);
  mkdirSync(d, { recursive: true });
  const seeds = target.seeds();
  for (const s of seeds) writeFileSync(join(d, createHash('sha1').update(s).digest('hex').slice(0, 16)), s);
  process.stdout.write(`${target.name}: ${seeds.length} seeds\n`);
}
