/**
 * ClickHouse ingest from one agent (docs/clickhouse.md): L7 rows per second end to end into a local clickhouse-server
 * the bench starts (its own config, data in a temp dir), against the same rows into the embedded SQLite store in the
 * same run. The transactions are the test fixtures' HTTP records replayed with fresh ids, times and URIs (as
 * bench/store.ts does). Each configuration runs 3 times; the table shows each run, the summary the medians.
 *  - ClickHouse: ClickHouseStoreWriter (batches of 5000 rows as JSONEachRow over HTTP, keep-alive), memory queue
 *    big enough never to spool; from the first row to close() returning (every batch answered), checked with
 *    count() on the server;
 *  - SQLite: SqliteStoreWriter waiting for its worker when the queue is full (nothing dropped), first row to close().
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runPipeline } from '../src/pipelines/capture.js';
import type { HttpEventSink, HttpTransaction } from '../src/records.js';
import { SqliteStoreWriter } from '../src/store/sqlite-writer.js';
import { ClickHouseStoreWriter } from '../src/store/clickhouse-writer.js';
import { ClickHouseHttp, parseClickHouseUrl } from '../src/store/clickhouse-client.js';
import { repoRoot } from '../test/helpers/paths.js';
import { Scope } from '../test/helpers/proc.js';
import { clickHouseProblem, startClickHouse } from '../test/helpers/clickhouse.js';
import type { BenchOptions, BenchResult } from './run.js';

async function fixtureTransactions(): Promise<HttpTransaction[]> {
  const dir = path.join(repoRoot, 'test', 'fixtures');
  const out: HttpTransaction[] = [];
  const sink: HttpEventSink = { request() {}, response() {}, transaction: (tx) => { out.push(tx); } };
  for (const f of fs.readdirSync(dir).filter((f) => /\.pcapn?g?$/.test(f)).sort()) {
    await runPipeline({ source: { kind: 'file', path: path.join(dir, f) }, sink, ports: 'any', reassembly: true, localAddrs: new Set(['127.0.0.1', '::1']) });
  }
  return out;
}

function replay(base: HttpTransaction[], n: number): HttpTransaction[] {
  const t0 = Date.now() * 1000 - 3600e6;
  const out: HttpTransaction[] = [];
  for (let i = 0; i < n; i++) {
    const b = base[i % base.length]!;
    const ts = t0 + i * 20;
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

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;

export const clickhouseUnavailable = (): string | undefined => clickHouseProblem();

export async function clickhouse(o: BenchOptions): Promise<BenchResult> {
  const n = o.quick ? 20_000 : 200_000;
  const repeats = 3;
  const base = await fixtureTransactions();
  if (base.length === 0) throw new Error('no transactions in test/fixtures');
  const txs = replay(base, n);
  const scope = new Scope();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wirelog-bench-ch-'));
  const rows: BenchResult['rows'] = [];
  const notes: string[] = [];
  try {
    const server = await startClickHouse(scope);
    const http = new ClickHouseHttp(parseClickHouseUrl(server.url('default')));
    const chRates: number[] = [], sqRates: number[] = [], pushUs: number[] = [];
    for (let k = 0; k < repeats; k++) {
      const db = `bench${k}`;
      const w = await ClickHouseStoreWriter.open({
        url: server.url(db), agent: 'bench', spoolDir: path.join(dir, `spool${k}`), retentionAgeUs: 0,
        maxMemoryBatches: Math.ceil(n / 5000) + 2, closeWaitMs: 600_000,
      });
      let t = performance.now();
      for (let i = 0; i < n; i++) w.transaction(txs[i]!);
      const pushMs = performance.now() - t;
      const r = await w.close();
      const chMs = performance.now() - t;
      const stored = Number((await http.query(`SELECT count() FROM ${db}.l7`)).trim());
      if (r.written !== n || r.dropped !== 0 || stored !== n) throw new Error(`ClickHouse: ${r.written} written, ${r.dropped} dropped, ${stored} on the server, of ${n}`);
      chRates.push(n / (chMs / 1000));
      pushUs.push((pushMs * 1000) / n);
      rows.push({ run: k + 1, store: 'ClickHouse (HTTP, JSONEachRow)', rows: n, ms: chMs, rows_per_s: Math.round(n / (chMs / 1000)), capture_thread_us_per_row: (pushMs * 1000) / n });

      const sw = new SqliteStoreWriter({ file: path.join(dir, `e2e${k}.db`), blockWhenFull: true, retention: { maxBytes: 0, maxAgeUs: 0 } });
      t = performance.now();
      for (let i = 0; i < n; i++) sw.transaction(txs[i]!);
      const sqPush = performance.now() - t;
      const sr = await sw.close();
      const sqMs = performance.now() - t;
      if (sr.written !== n || sr.dropped !== 0) throw new Error(`SQLite: ${sr.written} written, ${sr.dropped} dropped of ${n}`);
      sqRates.push(n / (sqMs / 1000));
      rows.push({ run: k + 1, store: 'SQLite (embedded, worker thread)', rows: n, ms: sqMs, rows_per_s: Math.round(n / (sqMs / 1000)), capture_thread_us_per_row: (sqPush * 1000) / n });
    }
    const bytes = Number((await http.query("SELECT sum(bytes_on_disk) FROM system.parts WHERE database = 'bench0' AND table = 'l7' AND active")).trim());
    http.close();
    const ch = median(chRates), sq = median(sqRates);
    notes.push(`${base.length} distinct fixture transactions replayed ${n.toLocaleString('en-US')} times; ${repeats} runs each, medians: ClickHouse ${Math.round(ch).toLocaleString('en-US')} rows/s, SQLite ${Math.round(sq).toLocaleString('en-US')} rows/s, ratio ClickHouse/SQLite ${(ch / sq).toFixed(2)}`);
    notes.push(`ClickHouse: ${(bytes / n).toFixed(0)} bytes a row on disk (compressed columns); capture thread ${median(pushUs).toFixed(2)} µs a row (building the JSON line)`);
    return {
      name: 'clickhouse', rows, notes,
      summary: { l7_rows_per_s_clickhouse: Math.round(ch), l7_rows_per_s_sqlite: Math.round(sq), ratio_clickhouse_sqlite: Number((ch / sq).toFixed(2)) },
    };
  } finally {
    await scope.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
