/**
 * `npm run fuzz [-- --seconds N] [--runs N] [--target a,b] [--seed N] [--json FILE]`: instruments the compiled
 * decoders (fuzz/instrument.ts), then runs every target (or the named ones) one after another, each in its own
 * worker for N seconds (default 60) or N inputs. A target that throws, stops making progress for --hang-seconds
 * (default 10), or outgrows the worker's heap (--heap-mb, default 1024) is a finding: its input is saved under
 * fuzz-findings/<target>/ and the run exits 1.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { EngineReport, Finding } from './engine.js';
import { buildInstrumentedTree } from './instrument.js';

export interface FuzzRunOptions {
  targets?: string[];
  seconds: number;
  maxRuns?: number;
  seed?: number;
  hangSeconds?: number;
  heapMb?: number;
  /** where findings are written; undefined = not written */
  findingsDir?: string;
  /** where the instrumented tree is built (default dist/fuzz-instrumented); one per concurrent run */
  workDir?: string;
  log?: (line: string) => void;
}

const here = dirname(fileURLToPath(import.meta.url));
/** dist/ (this file is dist/fuzz/run.js) */
export const DIST = resolve(here, '..');

export function listTargets(dist = DIST): string[] {
  return readdirSync(join(dist, 'fuzz', 'targets')).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3)).sort();
}

export function prepare(dist = DIST, root = join(dist, 'fuzz-instrumented')): { root: string; counters: number } {
  const r = buildInstrumentedTree(dist, root);
  return { root, counters: r.counters };
}

function runOne(root: string, target: string, o: FuzzRunOptions): Promise<EngineReport> {
  const maxInput = 1 << 20;
  const state = new SharedArrayBuffer(8);
  const input = new SharedArrayBuffer(maxInput);
  const st = new Int32Array(state);
  const started = Date.now();
  const hangMs = (o.hangSeconds ?? 10) * 1000;
  return new Promise((res) => {
    const worker = new Worker(join(root, 'fuzz', 'worker.js'), {
      workerData: { root, target, seconds: o.seconds, maxRuns: o.maxRuns, seed: o.seed ?? 1, state, input },
      resourceLimits: { maxOldGenerationSizeMb: o.heapMb ?? 1024 },
    });
    let last: EngineReport | undefined;
    let lastRuns = -1, lastChange = Date.now(), settled = false;
    const current = (): Buffer => Buffer.from(new Uint8Array(input, 0, Math.min(st[1]!, maxInput)));
    const finish = (r: EngineReport): void => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      res(r);
    };
    const abnormal = (name: string, message: string): void => {
      const runs = Atomics.load(st, 0);
      const seconds = (Date.now() - started) / 1000;
      const f: Finding = { key: `${name}: ${message}`, name, message, stack: '', inputHex: current().toString('hex'), run: runs };
      const base = last ?? { target, runs, seconds, execsPerSecond: 0, corpus: 0, countersHit: 0, countersTotal: 0, findings: [] };
      finish({ ...base, runs, seconds, execsPerSecond: Math.round(runs / seconds), findings: [...base.findings, f] });
    };
    const watch = setInterval(() => {
      const runs = Atomics.load(st, 0);
      if (runs !== lastRuns) { lastRuns = runs; lastChange = Date.now(); return; }
      if (Date.now() - lastChange > hangMs) {
        void worker.terminate();
        abnormal('Hang', `no input finished for ${o.hangSeconds ?? 10} s`);
      }
    }, 500);
    worker.on('message', (m: { kind: string; report: EngineReport }) => {
      last = m.report;
      if (m.kind === 'progress') o.log?.(`  ${target}: ${m.report.runs} runs, ${m.report.execsPerSecond}/s, corpus ${m.report.corpus}, counters ${m.report.countersHit}`);
      else finish(m.report);
    });
    worker.on('error', (e: Error & { code?: string }) => {
      if (e.code === 'ERR_WORKER_OUT_OF_MEMORY') abnormal('OutOfMemory', `worker heap above ${o.heapMb ?? 1024} MB`);
      else abnormal('HarnessError', e.stack ?? e.message);
    });
    worker.on('exit', () => { if (!settled) abnormal('WorkerExit', 'worker exited without a report'); });
  });
}

export async function runFuzz(o: FuzzRunOptions): Promise<EngineReport[]> {
  const { root } = prepare(DIST, o.workDir === undefined ? undefined : resolve(o.workDir));
  const all = listTargets();
  const names = o.targets ?? all;
  for (const n of names) if (!all.includes(n)) throw new Error(`unknown fuzz target ${n} (have: ${all.join(', ')})`);
  const reports: EngineReport[] = [];
  for (const name of names) {
    const r = await runOne(root, name, o);
    reports.push(r);
    o.log?.(`${name}: ${r.runs} inputs in ${r.seconds.toFixed(1)} s (${r.execsPerSecond}/s), corpus ${r.corpus}, counters hit ${r.countersHit}, findings ${r.findings.length}`);
    if (r.byFile !== undefined) {
      const files = Object.entries(r.byFile).sort((a, b) => b[1][0] - a[1][0]).slice(0, 6);
      o.log?.(`  coverage: ${files.map(([f, [h, t]]) => `${f.replace(/^src\//, '').replace(/\.js$/, '')} ${h}/${t}`).join(', ')}`);
    }
    for (const f of r.findings) {
      o.log?.(`  FINDING ${f.key}\n    input ${f.inputHex.slice(0, 400)}${f.inputHex.length > 400 ? '…' : ''}`);
      if (o.findingsDir !== undefined) {
        const dir = join(o.findingsDir, name);
        mkdirSync(dir, { recursive: true });
        const id = createHash('sha1').update(f.key).digest('hex').slice(0, 12);
        writeFileSync(join(dir, `${id}.json`), JSON.stringify(f, null, 2) + '\n');
      }
    }
  }
  return reports;
}

function parseArgs(argv: string[]): FuzzRunOptions & { json?: string } {
  const o: FuzzRunOptions & { json?: string } = { seconds: 60, findingsDir: 'fuzz-findings', log: (l) => process.stderr.write(l + '\n') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!, v = argv[i + 1];
    const num = (): number => {
      const n = Number(v);
      if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`${a} needs a number, got ${v ?? 'nothing'}`);
      i++;
      return n;
    };
    if (a === '--seconds') o.seconds = num();
    else if (a === '--runs') { o.maxRuns = num(); if (!argv.includes('--seconds')) o.seconds = 1e9; }
    else if (a === '--seed') o.seed = num();
    else if (a === '--hang-seconds') o.hangSeconds = num();
    else if (a === '--heap-mb') o.heapMb = num();
    else if (a === '--target') { o.targets = (v ?? '').split(',').filter((s) => s !== ''); i++; }
    else if (a === '--json') { o.json = v; i++; }
    else if (a === '--work-dir') { o.workDir = v; i++; }
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let o: ReturnType<typeof parseArgs>;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`wirelog fuzz: ${(e as Error).message}\n`);
    process.exit(2);
  }
  let reports: EngineReport[];
  try {
    reports = await runFuzz(o);
  } catch (e) {
    process.stderr.write(`wirelog fuzz: ${(e as Error).message}\n`);
    process.exit(2);
  }
  if (o.json !== undefined) writeFileSync(o.json, JSON.stringify(reports, null, 2) + '\n');
  const found = reports.reduce((n, r) => n + r.findings.length, 0);
  process.stderr.write(`fuzz: ${reports.length} targets, ${reports.reduce((n, r) => n + r.runs, 0)} inputs, ${found} findings\n`);
  process.exitCode = found > 0 ? 1 : 0;
}
