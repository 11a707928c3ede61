/**
 * Worker side of one fuzz run: allocates the coverage counters before the instrumented modules load (they read
 * `globalThis.__wlFuzzCov` when they are evaluated), imports the target, and runs the engine.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { COVERAGE_GLOBAL } from './instrument.js';
import { Engine } from './engine.js';
import type { FuzzTarget } from './target.js';

export interface WorkerInput {
  /** root of the instrumented tree (holds coverage-map.json and fuzz/targets/) */
  root: string;
  target: string;
  seconds: number;
  maxRuns?: number;
  seed: number;
  state: SharedArrayBuffer;
  input: SharedArrayBuffer;
}

const w = workerData as WorkerInput;
const map = JSON.parse(readFileSync(join(w.root, 'coverage-map.json'), 'utf8')) as { counters: number; ranges: Record<string, [number, number]> };
const cov = new Uint8Array((map.counters + 3) & ~3);
(globalThis as Record<string, unknown>)[COVERAGE_GLOBAL] = cov;
const mod = (await import(join(w.root, 'fuzz', 'targets', `${w.target}.js`))) as { target: FuzzTarget };
const engine = new Engine(mod.target, cov, {
  seconds: w.seconds, maxRuns: w.maxRuns, seed: w.seed,
  state: new Int32Array(w.state), input: new Uint8Array(w.input), ranges: map.ranges,
  progress: (r) => parentPort!.postMessage({ kind: 'progress', report: r }),
});
parentPort!.postMessage({ kind: 'done', report: engine.run() });
