/**
 * Store ingest: L7 rows per second into the embedded store (docs/store.md), on one core. The transactions are real:
 * the HTTP records of the test fixtures' captures (test/fixtures/*.pcap*, read by the capture pipeline), replayed
 * with fresh connection ids, times and URIs until there are N of them. Measured apart:
 *  - db: the writer thread's work alone — rows already built, batches of 2000 in one transaction each (all indexes);
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
import { StoreDb } from '../src/store/db.js';
import { l7Row, type Row } from '../src/store/schema.js';
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
    let keep: Row[] = [];
    for (let i = 0; i < n; i++) {
      if (i % batch === 0) keep = [];
      keep.push(l7Row(txs[i]!, iso));
    }
    const buildMs = performance.now() - t;
    rows.push({ stage: 'rows (capture thread)', rows: n, ms: buildMs, rows_per_s: Math.round(n / (buildMs / 1000)), us_per_row: (buildMs * 1000) / n });

    // the writer thread's part: batches into SQLite (each batch built before its clock starts)
    const db = new StoreDb(path.join(dir, 'db.db'), { maxBytes: 0, maxAgeUs: 0 });
    const batchMs: number[] = [];
    let dbMs = 0;
    for (let i = 0; i < n; i += batch) {
      const b: Row[] = [];
      for (let j = i; j < Math.min(n, i + batch); j++) b.push(l7Row(txs[j]!, iso));
      const b0 = performance.now();
      db.write({ l7: b, l4: [], tls: [], netns: [] });
      const ms = performance.now() - b0;
      batchMs.push(ms);
      dbMs += ms;
    }
    const size = fs.statSync(path.join(dir, 'db.db')).size + (fs.existsSync(path.join(dir, 'db.db-wal')) ? fs.statSync(path.join(dir, 'db.db-wal')).size : 0);
    db.close();
    batchMs.sort((a, b) => a - b);
    const dbRate = Math.round(n / (dbMs / 1000));
    rows.push({ stage: 'db (writer thread)', rows: n, ms: dbMs, rows_per_s: dbRate, us_per_row: (dbMs * 1000) / n });
    notes.push(`db: batches of ${batch} rows: median ${batchMs[batchMs.length >> 1]!.toFixed(1)} ms, p99 ${batchMs[Math.floor(batchMs.length * 0.99)]!.toFixed(1)} ms; ${(size / n).toFixed(0)} bytes a row on disk (indexes included)`);

    // end to end through the writer (worker thread), nothing dropped
    const w = new SqliteStoreWriter({ file: path.join(dir, 'e2e.db'), blockWhenFull: true, retention: { maxBytes: 0, maxAgeUs: 0 } });
    t = performance.now();
    for (let i = 0; i < n; i++) w.transaction(txs[i]!);
    const postMs = performance.now() - t;
    const r = await w.close();
    const e2eMs = performance.now() - t;
    if (r.written !== n || r.dropped !== 0) throw new Error(`end to end: ${r.written} written, ${r.dropped} dropped of ${n}`);
    rows.push({ stage: 'end to end (SqliteStoreWriter)', rows: n, ms: e2eMs, rows_per_s: Math.round(n / (e2eMs / 1000)), us_per_row: (e2eMs * 1000) / n });
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
    notes.push(`${base.length} distinct fixture transactions replayed ${n.toLocaleString('en-US')} times; goal 200,000 L7 rows/s into the store on one core: ${dbRate >= 200_000 ? 'reached' : 'NOT reached'} (${dbRate.toLocaleString('en-US')}/s)`);
    return { name: 'store', rows, notes, summary: { l7_rows_per_s_db: dbRate, l7_rows_per_s_end_to_end: Math.round(n / (e2eMs / 1000)), capture_thread_us_per_row: Number(((liveMs * 1000) / n).toFixed(2)) } };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
