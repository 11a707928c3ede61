/**
 * Store ingest: L7 rows per second into the embedded store (docs/store.md), on one core. The transactions are real:
 * the HTTP records of the test fixtures' captures (test/fixtures/*.pcap*, read by the capture pipeline), replayed
 * with fresh connection ids, times and URIs until there are N of them. Measured apart:
 *  - db v1: the writer thread's work with the version-1 schema and statements (42 columns, 7 l7 indexes, 4 KiB
 *    pages), in the same run, as the reference;
 *  - db: the writer thread's work alone (schema version 2) — rows already built in the layout the capture thread
 *    posts (flat arrays of stored rows), batches of 2000 in one transaction each;
 *  - rows: the capture thread's work — building each row from a transaction (what --store adds to the capture);
 *  - capture thread, live: SqliteStoreWriter with a queue that never fills: building, queueing and posting rows;
 *  - end to end: SqliteStoreWriter (capture thread builds and posts, the worker thread writes), waiting for the
 *    worker when its queue is full (as with -r), so nothing is dropped: total rows / wall time.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runPipeline } from '../src/pipelines/capture.js';
import type { HttpEventSink, HttpTransaction } from '../src/records.js';
import Database from 'better-sqlite3';
import { StoreDb } from '../src/store/db.js';
import { insertSqlV1, l7Row, newL7Columns, pushL7Stored, schemaStatementsV1, type L7Columns, type Row } from '../src/store/schema.js';
import { SqliteStoreWriter } from '../src/store/sqlite-writer.js';
import { IsoTimeFormatter } from '../src/sinks/local-time.js';
import { repoRoot } from '../test/helpers/paths.js';
import type { BenchOptions, BenchResult } from './run.js';

export async function fixtureTransactions(): Promise<HttpTransaction[]> {
  const dir = path.join(repoRoot, 'test', 'fixtures');
  const out: HttpTransaction[] = [];
  const sink: HttpEventSink = { request() {}, response() {}, transaction: (tx) => { out.push(tx); } };
  for (const f of fs.readdirSync(dir).filter((f) => /\.pcapn?g?$/.test(f)).sort()) {
    await runPipeline({ source: { kind: 'file', path: path.join(dir, f) }, sink, ports: 'any', reassembly: true, localAddrs: new Set(['127.0.0.1', '::1']) });
  }
  return out;
}

export function replay(base: HttpTransaction[], n: number): HttpTransaction[] {
  const t0 = Date.now() * 1000 - 3600e6;
  const out: HttpTransaction[] = [];
  for (let i = 0; i < n; i++) {
    const b = base[i % base.length]!;
    const ts = t0 + i * 20; // 50,000 requests a second of capture time
    const shift = ts - (b.req?.tsUs ?? b.res?.tsUs ?? ts);
    out.push({
      ...b,
      conn: { ...b.conn, connId: i + 1, clientPort: 1024 + (i % 60000) },
      req: b.req && { ...b.req, tsUs: b.req.tsUs + shift, uri: `${b.req.uri ?? '/'}${(b.req.uri ?? '').includes('?') ? '&' : '?'}n=${i % 5000}`, seq: (i * 7919) >>> 0 },
      res: b.res && { ...b.res, tsUs: b.res.tsUs + shift, seq: (i * 104729) >>> 0 },
      hops: b.hops?.map((h) => ({ ...h, reqTsUs: h.reqTsUs === null ? null : h.reqTsUs + shift, respTsUs: h.respTsUs === null ? null : h.respTsUs + shift })),
    });
  }
  return out;
}

const GOAL = 200_000;

/** The version-1 writer, as wirelog 1 wrote: v1 schema, one 42-column INSERT a row, 4 KiB pages. ms of inserts. */
function writeV1(file: string, txs: HttpTransaction[], batch: number, iso: IsoTimeFormatter): number {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('wal_autocheckpoint = 10000');
  for (const s of schemaStatementsV1()) db.exec(s);
  const ins = db.prepare(insertSqlV1('l7'));
  const bump = db.prepare('UPDATE store_stats SET written = written + ?, dropped = dropped + ?, removed = removed + ? WHERE tbl = ?');
  const tx = db.transaction((rows: Row[]) => {
    for (const r of rows) ins.run(r);
    bump.run(rows.length, 0, 0, 'l7');
  });
  let ms = 0;
  for (let i = 0; i < txs.length; i += batch) {
    const b: Row[] = [];
    for (let j = i; j < Math.min(txs.length, i + batch); j++) b.push(l7Row(txs[j]!, iso));
    const t0 = performance.now();
    tx(b);
    ms += performance.now() - t0;
  }
  db.close();
  return ms;
}

export async function store(o: BenchOptions): Promise<BenchResult> {
  const n = o.quick ? 50_000 : 500_000;
  const base = await fixtureTransactions();
  if (base.length === 0) throw new Error('no transactions in test/fixtures');
  const txs = replay(base, n);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wirelog-bench-store-'));
  const rows: BenchResult['rows'] = [];
  const notes: string[] = [];
  try {
    // the capture thread's part: rows from transactions (batches of 2000, as the writer keeps them)
    const iso = new IsoTimeFormatter();
    const batch = 2000;
    let t = performance.now();
    let keep: L7Columns = newL7Columns();
    for (let i = 0; i < n; i++) {
      if (i % batch === 0) keep = newL7Columns();
      pushL7Stored(txs[i]!, iso, keep);
    }
    const buildMs = performance.now() - t;
    t = performance.now();
    let keep1: Row[] = [];
    for (let i = 0; i < n; i++) {
      if (i % batch === 0) keep1 = [];
      keep1.push(l7Row(txs[i]!, iso));
    }
    const build1Ms = performance.now() - t;
    void keep, keep1;

    // version 1, same run
    const v1Ms = writeV1(path.join(dir, 'v1.db'), txs, batch, iso);
    const v1Rate = Math.round(n / (v1Ms / 1000));
    rows.push({ stage: 'db v1 (writer thread, schema 1)', rows: n, ms: v1Ms, rows_per_s: v1Rate, us_per_row: (v1Ms * 1000) / n, vs_goal: v1Rate / GOAL, vs_v1: 1 });

    // the writer thread's part: batches into SQLite (each batch built before its clock starts)
    const db = new StoreDb(path.join(dir, 'db.db'), { maxBytes: 0, maxAgeUs: 0 });
    const batchMs: number[] = [];
    let dbMs = 0;
    for (let i = 0; i < n; i += batch) {
      const b = newL7Columns();
      for (let j = i; j < Math.min(n, i + batch); j++) pushL7Stored(txs[j]!, iso, b);
      const b0 = performance.now();
      db.write({ l7: [], l7Stored: b, l4: [], tls: [], netns: [] });
      const ms = performance.now() - b0;
      batchMs.push(ms);
      dbMs += ms;
    }
    const size = fs.statSync(path.join(dir, 'db.db')).size + (fs.existsSync(path.join(dir, 'db.db-wal')) ? fs.statSync(path.join(dir, 'db.db-wal')).size : 0);
    db.close();
    batchMs.sort((a, b) => a - b);
    const dbRate = Math.round(n / (dbMs / 1000));
    rows.push({ stage: 'db (writer thread)', rows: n, ms: dbMs, rows_per_s: dbRate, us_per_row: (dbMs * 1000) / n, vs_goal: dbRate / GOAL, vs_v1: dbRate / v1Rate });
    rows.push({ stage: 'rows (capture thread)', rows: n, ms: buildMs, rows_per_s: Math.round(n / (buildMs / 1000)), us_per_row: (buildMs * 1000) / n });
    rows.push({ stage: 'rows v1 (capture thread, l7Row)', rows: n, ms: build1Ms, rows_per_s: Math.round(n / (build1Ms / 1000)), us_per_row: (build1Ms * 1000) / n });
    notes.push(`db: batches of ${batch} rows: median ${batchMs[batchMs.length >> 1]!.toFixed(1)} ms, p99 ${batchMs[Math.floor(batchMs.length * 0.99)]!.toFixed(1)} ms; ${(size / n).toFixed(0)} bytes a row on disk (indexes included)`);

    // end to end through the writer (worker thread), nothing dropped
    const w = new SqliteStoreWriter({ file: path.join(dir, 'e2e.db'), blockWhenFull: true, retention: { maxBytes: 0, maxAgeUs: 0 } });
    t = performance.now();
    for (let i = 0; i < n; i++) w.transaction(txs[i]!);
    const postMs = performance.now() - t;
    const r = await w.close();
    const e2eMs = performance.now() - t;
    if (r.written !== n || r.dropped !== 0) throw new Error(`end to end: ${r.written} written, ${r.dropped} dropped of ${n}`);
    const e2eRate = Math.round(n / (e2eMs / 1000));
    rows.push({ stage: 'end to end (SqliteStoreWriter)', rows: n, ms: e2eMs, rows_per_s: e2eRate, us_per_row: (e2eMs * 1000) / n, vs_goal: e2eRate / GOAL, vs_v1: e2eRate / v1Rate });
    notes.push(`end to end: the capture thread spent ${postMs.toFixed(0)} ms building and posting (${((postMs * 1000) / n).toFixed(2)} µs a row, waits for the full queue included); ${r.batches} batches, ${(r.batchMsTotal / Math.max(1, r.batches)).toFixed(1)} ms average, ${r.batchMsMax.toFixed(1)} ms longest`);
    // the capture thread's whole cost in a live capture: build, queue and post (a queue big enough never to wait)
    const lw = new SqliteStoreWriter({ file: path.join(dir, 'live.db'), maxQueueRows: n + 1, retention: { maxBytes: 0, maxAgeUs: 0 } });
    t = performance.now();
    for (let i = 0; i < n; i++) lw.transaction(txs[i]!);
    lw.flush();
    const liveMs = performance.now() - t;
    const lr = await lw.close();
    if (lr.written !== n) throw new Error(`live: ${lr.written} written of ${n}`);
    rows.push({ stage: 'capture thread, live (build + post)', rows: n, ms: liveMs, rows_per_s: Math.round(n / (liveMs / 1000)), us_per_row: (liveMs * 1000) / n });
    notes.push(`${base.length} distinct fixture transactions replayed ${n.toLocaleString('en-US')} times; goal 200,000 L7 rows/s into the store on one core (writer thread): ${dbRate >= GOAL ? 'reached' : 'NOT reached'} (${dbRate.toLocaleString('en-US')}/s, ${(dbRate / GOAL).toFixed(2)}× the goal, ${(dbRate / v1Rate).toFixed(2)}× schema 1's ${v1Rate.toLocaleString('en-US')}/s in this run); end to end ${e2eRate.toLocaleString('en-US')}/s`);
    return { name: 'store', rows, notes, summary: { l7_rows_per_s_db: dbRate, l7_rows_per_s_db_v1: v1Rate, l7_rows_per_s_end_to_end: e2eRate, capture_thread_us_per_row: Number(((liveMs * 1000) / n).toFixed(2)) } };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
