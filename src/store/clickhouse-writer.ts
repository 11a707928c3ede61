/**
 * `--store clickhouse://HOST:PORT/DB`: rows of L7 transactions, L4 chunks, TLS and namespace records, batched
 * (per table, by rows and at least every second) as `INSERT INTO db.t FORMAT JSONEachRow` over ClickHouse's HTTP
 * interface (docs/clickhouse.md).
 *
 * A batch the server does not take — no answer, or a 5xx — goes to a bounded spool directory and is resent, oldest
 * first, with backoff, once the server answers again; a batch the spool cannot hold is dropped and counted. A 4xx
 * (the server refuses the data) is an error, counted, never retried. Counts go to stderr at exit and, as deltas,
 * into the table `wirelog_stats` (through the same batches and spool).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HttpRequestEvent, HttpResponseEvent, HttpTransaction, L4Chunk, TlsHelloEvent, TraceTransaction } from '../records.js';
import type { NetnsInfo } from '../source/attribution.js';
import { IsoTimeFormatter } from '../sinks/local-time.js';
import { l4Row, l7Row, l7RowOfTrace, netnsRow, STORE_TABLES, StoreSchemaError, TABLE_COLUMNS, tlsRow, type Row, type StoreTable } from './schema.js';
import { WirelogError } from '../errors.js';
import {
  allColumns, ClickHouseError, ClickHouseHttp, createStatsSql, createTableSql, parseClickHouseUrl, STATS_TABLE, type ClickHouseUrl,
} from './clickhouse-client.js';
import type { StoreWriter, StoreWriterResult } from './writer.js';
import { mkdirp } from '../sinks/mkdirp.js';

export const DEFAULT_SPOOL_ROOT = '/var/lib/wirelog/spool';
export const DEFAULT_SPOOL_BYTES = 256 * 1024 ** 2;

export interface ClickHouseWriterOptions {
  url: string;
  /** the `agent` column, default os.hostname() */
  agent?: string;
  /** default /var/lib/wirelog/spool/<db> */
  spoolDir?: string;
  /** bytes, default 256 MiB */
  spoolBytes?: number;
  /** start even when the server does not answer: batches spool until it does (default: refuse to start) */
  spoolIfDown?: boolean;
  /** drop day partitions older than this (µs; 0 = never), at start and hourly */
  retentionAgeUs?: number;
  /** a table's batch is sent at this many rows, default 5000 … */
  batchRows?: number;
  /** … or after this long (ms), default 1000 */
  flushMs?: number;
  /** batches waiting in memory for the server, at most; more go to the spool; default 8 */
  maxMemoryBatches?: number;
  /** at close, how long to wait for pending batches before leaving them in the spool (ms), default 5000 */
  closeWaitMs?: number;
  /** how often the counts go to wirelog_stats (ms), default 60 000 */
  statsEveryMs?: number;
  log?: (line: string) => void;
}

type Target = StoreTable | typeof STATS_TABLE;

interface Batch {
  table: Target;
  rows: number;
  body: string;
  /** the spool file holding it, if spooled */
  file?: string;
}

interface Counts {
  written: number;
  dropped: number;
  spooled: number;
  rejected: number;
  removed: number;
}
const zero = (): Counts => ({ written: 0, dropped: 0, spooled: 0, rejected: 0, removed: 0 });
type PerTable = Record<StoreTable, Counts>;
const perTable = (): PerTable => ({ l7: zero(), l4: zero(), tls: zero(), netns: zero() });

/** `,"column":` of each table's columns, in row order */
const KEYS: Record<StoreTable, string[]> = {
  l7: TABLE_COLUMNS.l7.map((c) => `,"${c}":`),
  l4: TABLE_COLUMNS.l4.map((c) => `,"${c}":`),
  tls: TABLE_COLUMNS.tls.map((c) => `,"${c}":`),
  netns: TABLE_COLUMNS.netns.map((c) => `,"${c}":`),
};

const SPOOL_RE = /^(\d{13})-(\d{6})-(l7|l4|tls|netns|wirelog_stats)-(\d+)\.jsonl$/;
const ID_COUNTER_BITS = 21;

/** JSON of one value of a row (the packet BLOB as base64, non-finite numbers as null). */
function jsonValue(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return String(v);
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (Buffer.isBuffer(v)) return `"${v.toString('base64')}"`;
  return JSON.stringify(v);
}

export class ClickHouseStoreWriter implements StoreWriter {
  private readonly iso = new IsoTimeFormatter();
  readonly url: ClickHouseUrl;
  readonly agent: string;
  readonly spoolDir: string;
  private readonly http: ClickHouseHttp;
  private readonly o: ClickHouseWriterOptions;
  private readonly agentJson: string;
  private readonly run = crypto.randomBytes(6).toString('hex');
  private idPrefix = crypto.randomInt(0, 2 ** 32);
  private idCounter = 0;
  private readonly dayCache = new Map<number, string>();
  private queues: Record<StoreTable, string[]> = { l7: [], l4: [], tls: [], netns: [] };
  private queued = 0;
  private readonly memory: Batch[] = [];
  /** spool files, oldest first, and their sizes */
  private spool: Array<{ file: string; size: number; table: Target; rows: number }> = [];
  private spoolUsed = 0;
  private readonly spoolMax: number;
  private spoolSeq = 0;
  private spoolError: string | undefined;
  /** the server did not answer the last try: new batches go to the spool, a timer tries again */
  private down = false;
  private backoffMs = 1000;
  private retryTimer: NodeJS.Timeout | undefined;
  private schemaReady = false;
  private pumping: Promise<void> | undefined;
  private closing = false;
  private readonly timers: NodeJS.Timeout[] = [];
  /** this run's totals, and the deltas not yet reported to wirelog_stats */
  readonly totals: PerTable = perTable();
  private delta: PerTable = perTable();
  private statsDropped = 0;
  /** spooled rows of earlier runs sent by this one */
  resentEarlier = 0;
  failure: string | undefined;
  private warnedSpoolFull = false;
  /** a warning said the server does not answer; the next success says it does again */
  private reportedDown = false;
  private readonly log: (line: string) => void;

  private constructor(o: ClickHouseWriterOptions) {
    this.o = o;
    this.url = parseClickHouseUrl(o.url);
    this.agent = o.agent ?? os.hostname();
    this.agentJson = JSON.stringify(this.agent);
    this.spoolDir = o.spoolDir ?? path.join(DEFAULT_SPOOL_ROOT, this.url.database);
    this.spoolMax = o.spoolBytes ?? DEFAULT_SPOOL_BYTES;
    this.http = new ClickHouseHttp(this.url);
    this.log = o.log ?? ((): void => {});
  }

  /**
   * Check the server and create the schema; a bad URL, a server that does not answer (unless spoolIfDown) or a
   * refused schema throws, with one line naming the problem.
   */
  static async open(o: ClickHouseWriterOptions): Promise<ClickHouseStoreWriter> {
    const w = new ClickHouseStoreWriter(o);
    w.openSpool();
    try {
      await w.ensureSchema();
    } catch (err) {
      if (err instanceof ClickHouseError && err.status === undefined && o.spoolIfDown === true) {
        w.log(`wirelog: store ${w.url.display}: ${err.message}; spooling to ${w.spoolDir} until it answers`);
        w.markDown();
      } else {
        w.http.close();
        // the code of what failed stays (WL_ERR_CLICKHOUSE, WL_ERR_STORE_SCHEMA), the error itself as cause
        throw new WirelogError(err instanceof WirelogError ? err.code : 'WL_ERR_STORE', `store ${w.url.display}: ${(err as Error).message}`, { cause: err });
      }
    }
    if (!w.down) await w.retention();
    const every = (ms: number, fn: () => void): void => {
      const t = setInterval(fn, ms);
      t.unref();
      w.timers.push(t);
    };
    every(o.flushMs ?? 1000, () => w.flush());
    every(o.statsEveryMs ?? 60_000, () => w.reportStats());
    every(3_600_000, () => void w.retention());
    if (w.spool.length > 0) void w.pump();
    return w;
  }

  /** SELECT version(), CREATE DATABASE / TABLE IF NOT EXISTS, and every column present. */
  private async ensureSchema(): Promise<void> {
    const version = (await this.http.query('SELECT version()', { timeoutMs: 10_000 })).trim();
    const [major, minor] = version.split('.').map(Number);
    if (!(major! > 18 || (major === 18 && minor! >= 16))) throw new StoreSchemaError(`ClickHouse ${version} is older than 18.16, the oldest wirelog knows`);
    const db = this.url.database;
    await this.http.query(`CREATE DATABASE IF NOT EXISTS ${db}`);
    for (const t of STORE_TABLES) await this.http.query(createTableSql(db, t));
    await this.http.query(createStatsSql(db));
    const cols = await this.http.query(`SELECT table, name FROM system.columns WHERE database = '${db}' FORMAT TabSeparated`);
    const have = new Set(cols.split('\n').filter((l) => l !== ''));
    for (const t of STORE_TABLES)
      for (const c of allColumns(t))
        if (!have.has(`${t}\t${c}`)) throw new StoreSchemaError(`table ${db}.${t} exists without the column '${c}': not a wirelog table (or another version); use another database`);
    this.schemaReady = true;
  }

  // ---- rows -------------------------------------------------------------------------------------------------------

  private nextId(): number {
    if (this.idCounter >= 2 ** ID_COUNTER_BITS) {
      this.idPrefix = crypto.randomInt(0, 2 ** 32);
      this.idCounter = 0;
    }
    return this.idPrefix * 2 ** ID_COUNTER_BITS + this.idCounter++;
  }

  private date(tsUs: number): string {
    const day = Math.floor(tsUs / 86_400_000_000);
    let d = this.dayCache.get(day);
    if (d === undefined) {
      d = new Date(day * 86_400_000).toISOString().slice(0, 10);
      if (this.dayCache.size > 64) this.dayCache.clear();
      this.dayCache.set(day, d);
    }
    return d;
  }

  private line(t: StoreTable, row: Row): string {
    // one flat string a row (parts joined at once): a line built by += stays a rope of ~90 pieces until the batch
    // is joined, and the young-generation GC copies those pieces over and over
    const keys = KEYS[t];
    const parts: string[] = new Array<string>(keys.length * 2 + 2);
    parts[0] = `{"id":${this.nextId()},"agent":${this.agentJson},"date":"${this.date(row[0] as number)}"`;
    let k = 1;
    for (let i = 0; i < keys.length; i++) {
      parts[k++] = keys[i]!;
      parts[k++] = jsonValue(row[i]);
    }
    parts[k] = '}';
    return parts.join('');
  }

  private push(t: StoreTable, make: () => Row): void {
    if (this.closing) {
      this.count(t, 'dropped', 1);
      return;
    }
    let line: string;
    try {
      line = this.line(t, make());
    } catch {
      this.count(t, 'dropped', 1); // a record the schema cannot hold: counted, never thrown
      return;
    }
    this.queues[t].push(line);
    if (++this.queued >= (this.o.batchRows ?? 5000) || this.queues[t].length >= (this.o.batchRows ?? 5000)) this.flush();
  }

  private count(t: Target, k: keyof Counts, n: number): void {
    if (t === STATS_TABLE) {
      if (k === 'dropped' || k === 'rejected') this.statsDropped += n;
      return;
    }
    this.totals[t][k] += n;
    this.delta[t][k] += n;
  }

  request(_ev: HttpRequestEvent): void {}
  response(_ev: HttpResponseEvent): void {}
  transaction(tx: HttpTransaction): void {
    this.push('l7', () => l7Row(tx, this.iso));
  }
  tls(ev: TlsHelloEvent): void {
    this.push('tls', () => tlsRow(ev, this.iso));
  }
  traceTransaction(tx: TraceTransaction): void {
    this.push('l7', () => l7RowOfTrace(tx, this.iso));
  }
  l4(c: L4Chunk): void {
    this.push('l4', () => l4Row(c, this.iso));
  }
  netns(info: NetnsInfo, tsUs: number): void {
    this.push('netns', () => netnsRow(info, tsUs, this.iso));
  }

  /** Make batches of what is queued and start sending them. */
  flush(): void {
    if (this.queued > 0) {
      for (const t of STORE_TABLES) {
        const q = this.queues[t];
        if (q.length === 0) continue;
        this.queues[t] = [];
        this.enqueue({ table: t, rows: q.length, body: q.join('\n') + '\n' });
      }
      this.queued = 0;
    }
    void this.pump();
  }

  private enqueue(b: Batch): void {
    if (this.down || this.memory.length >= (this.o.maxMemoryBatches ?? 8)) this.toSpool(b);
    else this.memory.push(b);
  }

  // ---- the spool --------------------------------------------------------------------------------------------------

  private openSpool(): void {
    try {
      mkdirp(this.spoolDir, 0o700);
      for (const name of fs.readdirSync(this.spoolDir).sort()) {
        const m = SPOOL_RE.exec(name);
        if (m === null) continue;
        const size = fs.statSync(path.join(this.spoolDir, name)).size;
        this.spool.push({ file: name, size, table: m[3] as Target, rows: Number(m[4]) });
        this.spoolUsed += size;
      }
    } catch (err) {
      // said (once) when a batch would go there: a spool that is never needed is no problem
      this.spoolError = `spool ${this.spoolDir}: ${(err as Error).message}`;
    }
  }

  /** Keep a batch on disk for later, or drop it (counted) when the spool cannot hold it. */
  private toSpool(b: Batch): void {
    const size = Buffer.byteLength(b.body);
    if (this.spoolError !== undefined || this.spoolUsed + size > this.spoolMax) {
      this.count(b.table, 'dropped', b.rows);
      if (!this.warnedSpoolFull) {
        this.warnedSpoolFull = true;
        this.log(`wirelog: warning: store ${this.url.display}: ${this.spoolError ?? `spool ${this.spoolDir} is full (${this.spoolMax} bytes)`}: dropping batches (counted)`);
      }
      return;
    }
    const name = `${String(Date.now()).padStart(13, '0')}-${String(this.spoolSeq++ % 1_000_000).padStart(6, '0')}-${b.table}-${b.rows}.jsonl`;
    try {
      fs.writeFileSync(path.join(this.spoolDir, name), b.body, { mode: 0o600 });
    } catch (err) {
      this.spoolError = `spool ${this.spoolDir}: ${(err as Error).message}`;
      this.toSpool(b);
      return;
    }
    this.spool.push({ file: name, size, table: b.table, rows: b.rows });
    this.spoolUsed += size;
    this.count(b.table, 'spooled', b.rows);
  }

  /** Rows in the spool now (this run's and earlier runs'). */
  get spooledRows(): number {
    return this.spool.reduce((a, s) => a + (s.table === STATS_TABLE ? 0 : s.rows), 0);
  }

  // ---- sending ----------------------------------------------------------------------------------------------------

  private markDown(): void {
    this.down = true;
    for (const b of this.memory.splice(0)) this.toSpool(b);
    if (this.retryTimer !== undefined || this.closing) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.down = false;
      void this.pump();
    }, this.backoffMs);
    this.retryTimer.unref();
    this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
  }

  private async insert(table: Target, body: string): Promise<void> {
    await this.http.query(`INSERT INTO ${this.url.database}.${table} FORMAT JSONEachRow`, { body, timeoutMs: 30_000 });
  }

  /** Send the spool (oldest first), then the batches in memory, one at a time, until done or the server fails. */
  pump(): Promise<void> {
    if (this.pumping !== undefined) return this.pumping;
    this.pumping = (async () => {
      await null; // the finally below must run after this.pumping is set
      try {
        while (!this.down) {
          if (!this.schemaReady) {
            try {
              await this.ensureSchema();
              this.log(`wirelog: store ${this.url.display}: the server answers; sending the spool`);
              void this.retention();
            } catch (err) {
              if (err instanceof ClickHouseError && err.transient) this.markDown();
              else {
                this.failure ??= (err as Error).message;
                this.markDown();
              }
              break;
            }
          }
          const s = this.spool[0];
          const b: Batch | undefined = s !== undefined ? undefined : this.memory.shift();
          if (s === undefined && b === undefined) break;
          const table = s?.table ?? b!.table;
          const rows = s?.rows ?? b!.rows;
          let body: string;
          if (s !== undefined) {
            try {
              body = fs.readFileSync(path.join(this.spoolDir, s.file), 'utf8');
            } catch (err) {
              this.log(`wirelog: warning: spool file ${s.file}: ${(err as Error).message} (dropped)`);
              this.count(table, 'dropped', rows);
              this.spool.shift();
              this.spoolUsed -= s.size;
              continue;
            }
          } else body = b!.body;
          let ok = false;
          try {
            await this.insert(table, body);
            ok = true;
            this.backoffMs = 1000;
            this.count(table, 'written', rows);
            if (this.reportedDown) {
              this.reportedDown = false;
              this.log(`wirelog: store ${this.url.display}: the server answers again; sending the spool (${this.spool.length} files)`);
            }
            if (s !== undefined && this.isEarlier(s.file)) this.resentEarlier += table === STATS_TABLE ? 0 : rows;
          } catch (err) {
            const e = err as ClickHouseError;
            if (e instanceof ClickHouseError && e.transient) {
              if (b !== undefined) this.memory.unshift(b);
              if (!this.reportedDown) this.log(`wirelog: warning: store ${this.url.display}: ${e.message}; batches go to the spool ${this.spoolDir} until it answers`);
              this.reportedDown = true;
              this.markDown();
              break;
            }
            // refused (4xx): counted, never retried
            this.count(table, 'rejected', rows);
            this.failure ??= `a batch of ${rows} ${table} rows was refused: ${e.message}`;
            this.log(`wirelog: error: store ${this.url.display}: a batch of ${rows} ${table} rows was refused: ${e.message}`);
            ok = true; // done with it
          }
          if (ok && s !== undefined) {
            this.spool.shift();
            this.spoolUsed -= s.size;
            try {
              fs.unlinkSync(path.join(this.spoolDir, s.file));
            } catch { /* gone already */ }
          }
        }
      } finally {
        this.pumping = undefined;
      }
    })();
    return this.pumping;
  }

  private readonly startMs = Date.now();
  /** a spool file written before this run started */
  private isEarlier(file: string): boolean {
    return Number(file.slice(0, 13)) < this.startMs;
  }

  // ---- stats and retention ----------------------------------------------------------------------------------------

  /** The counts since the last report, as a batch for wirelog_stats (nothing when all are zero). */
  private reportStats(): void {
    const d = this.delta;
    this.delta = perTable();
    const now = Date.now() * 1000;
    const lines: string[] = [];
    for (const t of STORE_TABLES) {
      const c = d[t];
      if (c.written + c.dropped + c.spooled + c.rejected + c.removed === 0) continue;
      lines.push(JSON.stringify({ ts_us: now, date: this.date(now), agent: this.agent, run: this.run, tbl: t, ...c }));
    }
    if (lines.length > 0) {
      this.enqueue({ table: STATS_TABLE, rows: lines.length, body: lines.join('\n') + '\n' });
      void this.pump();
    }
  }

  /** Drop whole day partitions older than the retention age (18.16 has no TTL); rows removed are counted. */
  async retention(): Promise<void> {
    const age = this.o.retentionAgeUs ?? 0;
    if (age <= 0 || !this.schemaReady) return;
    const cutoffDay = Math.floor((Date.now() * 1000 - age) / 86_400_000_000); // days before this one are older
    const cutoff = new Date(cutoffDay * 86_400_000).toISOString().slice(0, 10).replace(/-/g, '');
    const db = this.url.database;
    try {
      for (const t of STORE_TABLES) {
        const parts = await this.http.query(
          `SELECT partition, sum(rows) FROM system.parts WHERE database = '${db}' AND table = '${t}' AND active GROUP BY partition FORMAT TabSeparated`);
        for (const l of parts.split('\n')) {
          const [p, rows] = l.split('\t');
          if (p === undefined || !/^\d{8}$/.test(p) || p >= cutoff) continue;
          await this.http.query(`ALTER TABLE ${db}.${t} DROP PARTITION ${p}`);
          this.count(t, 'removed', Number(rows));
          this.log(`wirelog: store ${this.url.display}: retention dropped ${t} partition ${p} (${rows} rows)`);
        }
      }
    } catch (err) {
      this.log(`wirelog: warning: store ${this.url.display}: retention: ${(err as Error).message}`);
    }
  }

  // ---- close ------------------------------------------------------------------------------------------------------

  /** Try to send what is pending until the deadline: the spool and memory empty, or the server still down. */
  private async drain(deadline: number): Promise<void> {
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(1, ms)));
    while (Date.now() < deadline && (this.memory.length > 0 || this.spool.length > 0 || this.pumping !== undefined)) {
      if (this.down) {
        // try again every half second until the deadline
        clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
        await sleep(Math.min(500, deadline - Date.now()));
        if (Date.now() >= deadline) break;
        this.down = false;
      }
      await Promise.race([this.pump(), sleep(deadline - Date.now())]);
    }
  }

  /** Send what is pending (at most closeWaitMs), leave the rest in the spool for the next run. */
  async close(): Promise<StoreWriterResult> {
    if (!this.closing) {
      this.flush();
      this.closing = true;
      for (const t of this.timers) clearInterval(t);
      const deadline = Date.now() + (this.o.closeWaitMs ?? 5000);
      await this.drain(deadline);
      // the last counts, once the data batches are answered (or spooled)
      this.reportStats();
      await this.drain(Math.max(deadline, Date.now() + (this.down ? 0 : 1000)));
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.down = true; // nothing more is sent: what is left stays on disk
      // a request still out is cut: its batch goes back to memory, then to the spool
      this.http.close();
      if (this.pumping !== undefined) await this.pumping;
      for (const b of this.memory.splice(0)) this.toSpool(b);
    }
    const written = STORE_TABLES.reduce((a, t) => a + this.totals[t].written, 0);
    const dropped = STORE_TABLES.reduce((a, t) => a + this.totals[t].dropped + this.totals[t].rejected, 0);
    const r: StoreWriterResult = { written, dropped };
    if (this.failure !== undefined) r.error = this.failure;
    return r;
  }

  /** The lines after the summary: per-table counts and what is left in the spool. */
  closeNotes(): string[] {
    const per = (k: keyof Counts): string => STORE_TABLES.map((t) => `${t} ${this.totals[t][k]}`).join(', ');
    const lines = [`wirelog: store ${this.url.display} (agent ${this.agent}): written ${per('written')}; dropped ${per('dropped')}; refused ${per('rejected')}; spooled ${per('spooled')}`];
    if (this.resentEarlier > 0) lines.push(`wirelog: store ${this.url.display}: ${this.resentEarlier} rows of earlier runs sent from the spool`);
    const left = this.spooledRows;
    if (left > 0 || this.spool.length > 0) lines.push(`wirelog: store ${this.url.display}: ${left} rows left in the spool ${this.spoolDir} (${this.spool.length} files): the next run sends them`);
    if (this.statsDropped > 0) lines.push(`wirelog: store ${this.url.display}: ${this.statsDropped} rows of ${STATS_TABLE} dropped`);
    return lines;
  }
}
