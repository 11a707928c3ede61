/**
 * `npm run bench` (after the build): runs every benchmark module in BENCHMARKS, prints each one's table, then a
 * summary. No timing assertions: figures only. `--quick`: small, short runs (smoke test of the benchmarks).
 * `--only NAME[,NAME]`: run only these. Adding a benchmark = adding one entry to BENCHMARKS.
 */
import { offline } from './offline.js';
import { live } from './live.js';
import { trace } from './trace.js';
import { client } from './client.js';
import { netlog } from './netlog.js';
import { store } from './store.js';
import { storeQuery } from './store-query.js';
import { clickhouse, clickhouseUnavailable } from './clickhouse.js';

export interface BenchOptions {
  quick: boolean;
}

export interface BenchResult {
  name: string;
  /** one row per measured configuration; any columns */
  rows: Array<Record<string, string | number>>;
  /** lines printed under the table (method, ratios, sanity checks) */
  notes: string[];
  /** headline figures for the summary table */
  summary: Record<string, number>;
}

export interface Benchmark {
  name: string;
  what: string;
  /** why it cannot run here, or undefined */
  unavailable?: () => string | undefined;
  run: (o: BenchOptions) => Promise<BenchResult>;
}

const needRoot = (): string | undefined => (process.getuid?.() === 0 ? undefined : 'needs root (tcpdump / eBPF)');

export const BENCHMARKS: Benchmark[] = [
  { name: 'offline', what: 'capture file reader: wirelog -r vs httpry vs tshark', unavailable: needRoot, run: offline },
  { name: 'live', what: 'live capture overhead: wrk → nginx with and without wirelog', unavailable: needRoot, run: live },
  { name: 'trace', what: 'trace overhead: wrk (HTTP/1.1) and h2load (HTTP/2 TLS) → nginx with and without wirelog trace -p', unavailable: needRoot, run: trace },
  { name: 'netlog', what: 'network logs: wrk → nginx through two bridges with and without wirelog --netns all --l4', unavailable: needRoot, run: netlog },
  { name: 'store', what: 'embedded store ingest: L7 rows per second into SQLite on one core (fixture transactions replayed)', run: store },
  { name: 'store-query', what: 'embedded store list pages: 100 L7 rows newest first with a filter, on 10M rows (1M with --quick); p50/p95', run: storeQuery },
  { name: 'clickhouse', what: 'ClickHouse ingest from one agent: L7 rows per second end to end into a local clickhouse-server vs the SQLite store', unavailable: clickhouseUnavailable, run: clickhouse },
  { name: 'client', what: 'traced client: wirelog/client fetch vs undici fetch vs Node fetch on loopback nginx', run: client },
];

function fmt(v: string | number): string {
  if (typeof v === 'string') return v;
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(3);
}

export function table(rows: Array<Record<string, string | number>>): string {
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cells = [cols, ...rows.map((r) => cols.map((c) => (r[c] === undefined ? '' : fmt(r[c]!))))];
  const widths = cols.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  const line = (row: string[]): string => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const onlyIdx = argv.indexOf('--only');
  const only = onlyIdx >= 0 ? new Set((argv[onlyIdx + 1] ?? '').split(',')) : undefined;
  const results: BenchResult[] = [];
  let failed = 0;
  console.log(`wirelog benchmarks${quick ? ' (quick)' : ''}, ${new Date().toISOString()}, node ${process.version}`);
  for (const b of BENCHMARKS) {
    if (only && !only.has(b.name)) continue;
    const why = b.unavailable?.();
    console.log(`\n== ${b.name}: ${b.what}`);
    if (why) {
      console.log(`skipped: ${why}`);
      continue;
    }
    try {
      const r = await b.run({ quick });
      results.push(r);
      console.log(table(r.rows));
      for (const n of r.notes) console.log(n);
    } catch (e) {
      failed++;
      console.log(`failed: ${(e as Error).message}`);
    }
  }
  console.log('\n== summary');
  console.log(table(results.flatMap((r) => Object.entries(r.summary).map(([k, v]) => ({ benchmark: r.name, figure: k, value: v })))));
  return failed ? 1 : 0;
}

// run only as the entry point (the modules above import this file for its types)
if (import.meta.url === `file://${process.argv[1]}`) {
  main().then((code) => process.exit(code), (e) => { console.error(e); process.exit(1); });
}
