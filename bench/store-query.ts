/**
 * Store list queries: the explorer's page (100 L7 rows, newest first, with a filter) on a store of 10 million L7
 * rows (1 million with --quick), through SqliteStoreReader (the SQL `wirelog query` and the explorer run). Goal:
 * p95 ≤ 200 ms per query.
 *
 * The store is built once by direct inserts (StoreDb.write of stored rows, no capture) of generated rows with
 * realistic, seeded distributions (below), and cached as /tmp/wirelog-bench-10m.db (-1m with --quick); it is rebuilt
 * when its schema version or the generator's layout differ (meta keys bench_rows, bench_layout). Each query is run
 * RUNS times after one warm-up run (the OS page cache warm, as for a user paging the explorer); p50 / p95 / max.
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { parseQuery } from '../src/query/index.js';
import { StoreDb } from '../src/store/db.js';
import { insertSqlV1, L7_INDEXES_V2, l7StoredOfRow, newL7Columns, pushL7StoredRow, schemaStatementsV1, schemaVersion, SCHEMA_VERSION, type L7Columns, type Row } from '../src/store/schema.js';
import { IsoTimeFormatter } from '../src/sinks/local-time.js';
import { SqliteStoreReader } from '../src/store/sqlite-reader.js';
import type { BenchOptions, BenchResult } from './run.js';

const GOAL_MS = 200;
const RUNS = 25;
/** bump when the generated rows change */
const LAYOUT = 'g2';

export const QUERIES: Array<{ name: string; filter: string }> = [
  { name: 'no filter', filter: '' },
  { name: 'status >= 500', filter: 'status >= 500' },
  { name: 'status = 200 (82% of rows)', filter: 'status = 200' },
  { name: 'host = (1% of rows)', filter: 'host = "orders.internal"' },
  { name: 'path ^= "/api/"', filter: 'path ^= "/api/"' },
  { name: 'dst_ip in 10.0.0.0/8', filter: 'dst_ip in 10.0.0.0/8' },
  { name: 'latency_ms > 250', filter: 'latency_ms > 250' },
  { name: 'rare, indexed: status = 599', filter: 'status = 599' },
  { name: 'rare, not indexed: host', filter: 'host = "nothing.invalid"' },
];

/** mulberry32: a seeded PRNG, [0, 1) */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** pick from [value, weight] pairs */
function weighted<T>(pairs: Array<[T, number]>): (r: number) => T {
  const total = pairs.reduce((a, [, w]) => a + w, 0);
  const cum: number[] = [];
  let c = 0;
  for (const [, w] of pairs) cum.push((c += w / total));
  return (r) => {
    for (let i = 0; i < cum.length; i++) if (r < cum[i]!) return pairs[i]![0];
    return pairs[pairs.length - 1]![0];
  };
}

const STATUS = weighted<number>([[200, 8200], [201, 300], [204, 200], [301, 80], [302, 120], [304, 300], [400, 150], [401, 100], [403, 50],
  [404, 300], [429, 30], [500, 80], [502, 40], [503, 30], [504, 20]]);
const REASON: Record<number, string> = { 200: 'OK', 201: 'Created', 204: 'No Content', 301: 'Moved Permanently', 302: 'Found', 304: 'Not Modified',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 500: 'Internal Server Error',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };
const METHOD = weighted<string>([['GET', 75], ['POST', 15], ['PUT', 4], ['DELETE', 2], ['HEAD', 2], ['OPTIONS', 2]]);
/** 200 hosts, Zipf-like (host k has weight 1/(k+1)); `orders.internal` about 1% of rows */
const HOSTS = Array.from({ length: 200 }, (_, k) => (k === 12 ? 'orders.internal' : k % 3 === 0 ? `svc-${k}.internal` : k % 3 === 1 ? `api${k}.example.com` : `web-${k}.prod.svc.cluster.local`));
const HOST = weighted<string>(HOSTS.map((h, k) => [h, 1 / (k + 1)]));
const PATHS = weighted<(r: () => number) => string>([
  [(r) => `/api/v1/users/${Math.floor(r() * 100000)}`, 20], [(r) => `/api/v2/orders/${Math.floor(r() * 1e6)}?expand=items`, 12],
  [(r) => `/api/v1/search?q=${Math.floor(r() * 5000)}&page=${Math.floor(r() * 10)}`, 8], [() => '/health', 10], [() => '/metrics', 8],
  [(r) => `/static/js/app.${Math.floor(r() * 0xffffff).toString(16)}.js`, 12], [(r) => `/images/p/${Math.floor(r() * 50000)}.jpg`, 10],
  [() => '/login', 3], [(r) => `/v1/objects/bucket-${Math.floor(r() * 20)}/${Math.floor(r() * 1e7).toString(36)}`, 12], [() => '/', 5],
]);
const UAS = ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36', 'curl/8.5.0',
  'Go-http-client/1.1', 'python-requests/2.31.0', 'okhttp/4.12.0', 'kube-probe/1.29', 'Prometheus/2.48.1',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1'];
const CTYPES = ['application/json', 'text/html; charset=utf-8', 'application/javascript', 'image/jpeg', 'text/plain; version=0.0.4'];

/** n generated rows for rows i0.. (in TABLE_COLUMNS.l7 order, as l7Row builds them), each handed to sink. */
function generate(r: () => number, i0: number, n: number, t0: number, spanUs: number, total: number, sink: (row: Row) => void): void {
  const iso = new IsoTimeFormatter();
  for (let i = i0; i < i0 + n; i++) {
    // rows over the span, each up to 2 ms late (transactions end out of order)
    const ts = Math.trunc(t0 + (i / total) * spanUs + r() * 2000);
    const status = STATUS(r());
    // latency: log-normal, median ~12 ms, ~2% above 250 ms
    const g = Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
    const lat = Math.round(Math.exp(Math.log(12) + 1.45 * g) * 1000) / 1000;
    const noRes = r() < 0.005;
    const resTs = noRes ? null : ts + Math.round(lat * 1000);
    const dr = r();
    const dst = dr < 0.6 ? `10.${(i >> 3) % 4}.${Math.floor(r() * 8)}.${1 + Math.floor(r() * 20)}` : dr < 0.85 ? `172.16.${Math.floor(r() * 4)}.${1 + Math.floor(r() * 30)}` : `93.184.${Math.floor(r() * 4)}.${1 + Math.floor(r() * 200)}`;
    const src = `10.${100 + Math.floor(r() * 20)}.${Math.floor(r() * 250)}.${1 + Math.floor(r() * 250)}`;
    const host = HOST(r());
    const method = METHOD(r());
    const uri = PATHS(r())(r);
    const reqSeq = Math.floor(r() * 4294967296), resSeq = Math.floor(r() * 4294967296);
    const container = r() < 0.3 ? Math.floor(r() * 1e15).toString(16).padStart(64, 'a') : null;
    const hops = r() < 0.3 ? `[{"ifname":"eth0","ifindex":2,"netns":4026531840,"netns_name":null,"req_ts":"${iso.format(ts)}","resp_ts":${resTs === null ? 'null' : `"${iso.format(resTs)}"`}}]` : null;
    const cl = Math.floor(r() * 20000);
    const post = method === 'POST';
    // TABLE_COLUMNS.l7 order
    const row: Row = [
      ts, resTs, iso.format(ts), r() < 0.7 ? 'CQ' : 'SQ', i + 1, 1 + (i % 7), src, 1024 + Math.floor(r() * 60000), dst, r() < 0.7 ? 443 : 8080,
      method, uri, 'HTTP/1.1', host, UAS[Math.floor(r() * UAS.length)]!, noRes ? null : status, noRes ? null : REASON[status]!, noRes ? null : cl,
      noRes ? null : CTYPES[Math.floor(r() * CTYPES.length)]!, noRes ? null : lat, 'eth0', 4026531840, null, null,
      resTs === null ? null : iso.format(resTs), noRes ? null : 'HTTP/1.1', post ? 512 : null, post ? 'application/json' : null, post ? 512 : 0,
      noRes ? 0 : cl, '[]', 0, noRes ? 'timeout' : null, '[]', reqSeq, noRes ? null : resSeq, noRes ? null : `${reqSeq}_${resSeq}`,
      `${Math.floor(r() * 1e9)}_${Math.floor(r() * 1e9)}`, null, container, null, hops,
    ];
    sink(row);
  }
}

/**
 * The cached store of `rows` rows (built when missing or stale); returns its path and the build's rows/s (0 = cached).
 * `v1`: a store of schema version 1 made by version 1's statements (the reference for the "before" figures; read
 * through the same SqliteStoreReader, which reads version 1 as before).
 */
export function benchStore(rows: number, log: (s: string) => void = () => {}, v1 = false): { file: string; buildRate: number } {
  const version = v1 ? 1 : SCHEMA_VERSION;
  const file = `/tmp/wirelog-bench-${rows >= 1e6 ? `${rows / 1e6}m` : `${rows / 1e3}k`}${v1 ? '-v1' : ''}.db`;
  if (fs.existsSync(file)) {
    try {
      const db = new Database(file, { readonly: true });
      const ok = schemaVersion(db) === version &&
        (db.prepare("SELECT value FROM meta WHERE key = 'bench_layout'").get() as { value: string } | undefined)?.value === `${LAYOUT}:${rows}`;
      db.close();
      if (ok && !v1) {
        // same rows, but the l7 index definitions may have changed since: recreate them (faster than a rebuild)
        const w = new Database(file);
        const have = (w.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'l7_data'").all() as Array<{ sql: string }>).map((x) => x.sql);
        if (have.sort().join(';') !== [...L7_INDEXES_V2].sort().join(';')) {
          log(`recreating the l7 indexes of ${file}…`);
          for (const name of (w.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'l7_data'").all() as Array<{ name: string }>)) w.exec(`DROP INDEX ${name.name}`);
          for (const st of L7_INDEXES_V2) w.exec(st);
        }
        w.close();
      }
      if (ok) return { file, buildRate: 0 };
    } catch {
      /* rebuilt below */
    }
  }
  for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
  log(`building ${file} (${rows.toLocaleString('en-US')} rows, schema ${version})…`);
  const r = rng(42);
  const spanUs = 24 * 3600e6; // a day of traffic
  const t0 = Date.UTC(2026, 0, 15) * 1000;
  const batch = 20_000;
  const start = performance.now();
  let db: Database.Database;
  if (v1) {
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('wal_autocheckpoint = 10000');
    for (const st of schemaStatementsV1()) db.exec(st);
    const ins = db.prepare(insertSqlV1('l7'));
    const write = db.transaction((b: Row[]) => {
      for (const row of b) ins.run(row);
    });
    for (let i = 0; i < rows; i += batch) {
      const b: Row[] = [];
      generate(r, i, Math.min(batch, rows - i), t0, spanUs, rows, (row) => b.push(row));
      write(b);
    }
  } else {
    const s = new StoreDb(file, { maxBytes: 0, maxAgeUs: 0 });
    db = s.db;
    for (let i = 0; i < rows; i += batch) {
      const cols: L7Columns = newL7Columns();
      generate(r, i, Math.min(batch, rows - i), t0, spanUs, rows, (row) => pushL7StoredRow(l7StoredOfRow(row), cols));
      s.write({ l7: [], l7Stored: cols, l4: [], tls: [], netns: [] });
    }
  }
  const ms = performance.now() - start;
  db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('bench_layout', ?)").run(`${LAYOUT}:${rows}`);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return { file, buildRate: Math.round(rows / (ms / 1000)) };
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)]!;

export async function storeQuery(o: BenchOptions): Promise<BenchResult> {
  const n = o.quick ? 1_000_000 : 10_000_000;
  // WIRELOG_BENCH_V1=1: the same rows and queries on a schema-1 store as well (the "before"; slow to build)
  const v1 = process.env.WIRELOG_BENCH_V1 === '1';
  const rows: BenchResult['rows'] = [];
  const summary: Record<string, number> = {};
  const notes: string[] = [];
  for (const version of v1 ? [1, SCHEMA_VERSION] : [SCHEMA_VERSION]) {
    const r = await queries(n, version === 1);
    rows.push(...r.rows);
    notes.push(...r.notes);
    if (version === SCHEMA_VERSION) Object.assign(summary, r.summary);
  }
  return { name: 'store-query', rows, notes, summary };
}

async function queries(n: number, v1: boolean): Promise<Omit<BenchResult, 'name'>> {
  const { file, buildRate } = benchStore(n, (s) => console.log(s), v1);
  const version = v1 ? 1 : SCHEMA_VERSION;
  const reader = SqliteStoreReader.open(file);
  const rows: BenchResult['rows'] = [];
  const summary: Record<string, number> = {};
  let worst = 0;
  try {
    for (const q of QUERIES) {
      const spec = { table: 'l7' as const, filter: q.filter === '' ? undefined : parseQuery(q.filter, { record: 'l7' }), desc: true, limit: 100, offset: 0 };
      let got = (await reader.rows(spec)).length; // warm-up
      const ms: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const t = performance.now();
        got = (await reader.rows(spec)).length;
        ms.push(performance.now() - t);
      }
      ms.sort((a, b) => a - b);
      const p95 = pct(ms, 0.95);
      worst = Math.max(worst, p95);
      rows.push({ schema: version, query: q.name, filter: q.filter || '(none)', rows: got, p50_ms: pct(ms, 0.5), p95_ms: p95, max_ms: ms[ms.length - 1]!, p95_vs_goal: p95 / GOAL_MS });
      summary[`p95_ms ${q.name}`] = Number(p95.toFixed(1));
    }
  } finally {
    await reader.close();
  }
  const size = fs.statSync(file).size;
  const notes = [
    `schema ${version}: ${n.toLocaleString('en-US')} L7 rows (${file}, ${(size / 2 ** 30).toFixed(2)} GiB${buildRate > 0 ? `, built now at ${buildRate.toLocaleString('en-US')} rows/s` : ', cached'}); ${RUNS} runs a query after one warm-up; page = 100 rows, newest first, offset 0`,
    `schema ${version}: goal p95 ≤ ${GOAL_MS} ms: ${rows.filter((r) => (r.p95_ms as number) <= GOAL_MS).length} of ${rows.length} queries; worst p95 ${worst.toFixed(1)} ms`,
  ];
  return { rows, notes, summary };
}
