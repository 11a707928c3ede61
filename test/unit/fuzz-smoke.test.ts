/**
 * CI's share of the fuzz campaign (docs/testing.md, "Fuzzing"): every target of fuzz/targets for a few seconds on
 * the instrumented build. Any finding (an exception out of a decoder, a broken invariant, a hang, a heap blow-up)
 * fails the test with its input in hex; a target that reaches no branch counter means the instrumentation broke.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DIST, listTargets, runFuzz } from '../../fuzz/run.js';
import { instrumentSource } from '../../fuzz/instrument.js';

const SECONDS = Number(process.env.WIRELOG_FUZZ_SMOKE_SECONDS ?? 2);

test('instrumentation counts each branch outcome separately', () => {
  const src = 'export function f(x) { if (x > 1) { return x > 5 ? "big" : "mid"; } return x === 0 && "zero"; }';
  const { text, next } = instrumentSource(src, 'f.js', 0);
  assert.ok(next >= 6, `only ${next} counters for a function with an if, a ?: and an &&`);
  const cov = new Uint8Array(next);
  const g = globalThis as Record<string, unknown>;
  g.__wlFuzzCov = cov;
  // evaluate the instrumented module text as a function body (exports stripped)
  const f = new Function(`${text.replace('export function', 'function')}; return f;`)() as (x: number) => unknown;
  const hits = (x: number): string => { cov.fill(0); f(x); return Array.from(cov).join(''); };
  assert.equal(f(7), 'big');
  const seen = new Set([hits(7), hits(3), hits(0), hits(-1)]);
  assert.equal(seen.size, 4, 'four different paths gave the same counters');
});

test(`every fuzz target runs ${SECONDS} s without a finding`, { timeout: 600_000 }, async () => {
  const targets = listTargets();
  assert.ok(targets.length >= 19, `only ${targets.length} targets`);
  const reports = await runFuzz({ seconds: SECONDS, seed: Date.now() & 0x7fffffff, workDir: join(DIST, 'fuzz-instrumented-smoke') });
  const problems: string[] = [];
  for (const r of reports) {
    if (r.countersHit === 0) problems.push(`${r.target}: no branch counter hit (instrumentation broken?)`);
    if (r.runs === 0) problems.push(`${r.target}: no input ran`);
    for (const f of r.findings) problems.push(`${r.target}: ${f.key}\n  input ${f.inputHex}`);
  }
  assert.deepEqual(problems, []);
});
