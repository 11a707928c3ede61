/**
 * The store's database, synchronous (better-sqlite3): open (WAL, synchronous=NORMAL, schema migrated), write a
 * batch of rows in one transaction, apply retention, read the stats. The writer's worker thread drives it
 * (src/store/sqlite-writer.ts); tests and benchmarks may use it directly.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database, { type Database as Db, type Statement } from 'better-sqlite3';
import { dataTable, insertSql, l7StoredOfRow, L7_STORED_WIDTH, migrate, STORE_TABLES, type L7Columns, type Row, type SqlValue, type StoreTable } from './schema.js';

import { DEFAULT_RETENTION_AGE_US, DEFAULT_RETENTION_BYTES } from './options.js';
import { mkdirp } from '../sinks/mkdirp.js';
import { WirelogError } from '../errors.js';
export { DEFAULT_RETENTION_AGE_US, DEFAULT_RETENTION_BYTES, DEFAULT_STORE_PATH, parseDurationUs, parseSize } from './options.js';

export interface RetentionOptions {
  /** bytes of used pages (page_count − freelist_count) × page_size above which the oldest rows go; 0 = no limit */
  maxBytes: number;
  /** rows older than this (µs, against the wall clock) go; 0 = no limit */
  maxAgeUs: number;
}

export type TableCounts = Record<StoreTable, number>;
export const zeroCounts = (): TableCounts => ({ l7: 0, l4: 0, tls: 0, netns: 0 });

export interface Batch {
  /** rows in TABLE_COLUMNS order (l7: as l7Row builds them; written through l7StoredOfRow) */
  l7: Row[];
  /** more l7 rows, already in the stored layout, by column (L7Columns: what SqliteStoreWriter posts, a few arrays
   *  to clone instead of one per row) */
  l7Stored?: L7Columns;
  l4: Row[];
  tls: Row[];
  netns: Row[];
  /** rows dropped (queue full) since the previous batch, per table: recorded in store_stats with the batch */
  dropped?: Partial<TableCounts>;
}

export interface StoreStats {
  written: TableCounts;
  dropped: TableCounts;
  removed: TableCounts;
}

export class StoreOpenError extends WirelogError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WL_ERR_STORE', message, options);
  }
}

/** Open (creating the directory and the file) and migrate; throws StoreOpenError / StoreSchemaError. */
export function openDatabase(file: string): Db {
  let db: Db;
  try {
    mkdirp(path.dirname(path.resolve(file)));
    db = new Database(file);
    // 16 KiB pages: half again as many rows a second as 4 KiB (bench/store.ts); only a new, empty file takes it
    db.pragma('page_size = 16384');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    // checkpoint every ~40 MB of WAL (2,500 pages of 16 KiB; 10,000 of 4 KiB in version 1) instead of 4 MB: a third
    // more rows a second than the default (bench/store.ts)
    db.pragma('wal_autocheckpoint = 2500');
  } catch (err) {
    throw new StoreOpenError(`store ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    migrate(db, file);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/** l7 rows per INSERT statement (one statement of this many rows, then single rows for the remainder). */
export const L7_ROWS_PER_INSERT = Number(process.env.WIRELOG_STORE_ROWS_PER_INSERT ?? 1) || 1;

export class StoreDb {
  readonly db: Db;
  private readonly insert: Record<StoreTable, Statement>;
  private readonly insertMany: Statement | undefined;
  private readonly bump: Statement;
  private readonly writeTx: (b: Batch) => number;

  constructor(
    readonly file: string,
    private readonly retention: RetentionOptions = { maxBytes: DEFAULT_RETENTION_BYTES, maxAgeUs: DEFAULT_RETENTION_AGE_US },
  ) {
    this.db = openDatabase(file);
    this.insert = Object.fromEntries(STORE_TABLES.map((t) => [t, this.db.prepare(insertSql(t))])) as Record<StoreTable, Statement>;
    this.insertMany = L7_ROWS_PER_INSERT > 1 ? this.db.prepare(insertSql('l7', L7_ROWS_PER_INSERT)) : undefined;
    this.bump = this.db.prepare('UPDATE store_stats SET written = written + ?, dropped = dropped + ?, removed = removed + ? WHERE tbl = ?');
    this.writeTx = this.db.transaction((b: Batch): number => {
      let n = 0;
      for (const t of STORE_TABLES) {
        const rows = b[t];
        const st = this.insert[t];
        if (t === 'l7') for (let i = 0; i < rows.length; i++) st.run(l7StoredOfRow(rows[i]!));
        else for (let i = 0; i < rows.length; i++) st.run(rows[i]!);
        let count = rows.length;
        if (t === 'l7' && b.l7Stored !== undefined) count += this.writeStored(b.l7Stored);
        n += count;
        const d = b.dropped?.[t] ?? 0;
        if (count > 0 || d > 0) this.bump.run(count, d, 0, t);
      }
      return n;
    });
  }

  private readonly args1: SqlValue[] = new Array<SqlValue>(L7_STORED_WIDTH).fill(null);
  private readonly argsMany: SqlValue[] = new Array<SqlValue>(L7_STORED_WIDTH * L7_ROWS_PER_INSERT).fill(null);

  /** Stored l7 rows by column: L7_ROWS_PER_INSERT rows a statement, then one at a time (one arguments array reused). */
  private writeStored(cols: L7Columns): number {
    const w = L7_STORED_WIDTH;
    if (cols.length !== w) throw new RangeError(`l7Stored: ${cols.length} columns, not ${w}`);
    const rows = cols[0]!.length;
    for (const c of cols) if (c.length !== rows) throw new RangeError('l7Stored: columns of different lengths');
    let r = 0;
    const many = this.insertMany;
    if (many !== undefined) {
      const a = this.argsMany;
      for (const k = L7_ROWS_PER_INSERT; r + k <= rows; r += k) {
        for (let j = 0; j < k; j++) for (let c = 0; c < w; c++) a[j * w + c] = cols[c]![r + j]!;
        many.run(a);
      }
    }
    const one = this.insert.l7;
    const a = this.args1;
    for (; r < rows; r++) {
      for (let c = 0; c < w; c++) a[c] = cols[c]![r]!;
      one.run(a);
    }
    return rows;
  }

  /** Insert a batch in one transaction; returns the rows written. */
  write(b: Batch): number {
    return this.writeTx(b);
  }

  /** Count drops that came with no rows (at close). */
  addDropped(d: Partial<TableCounts>): void {
    this.db.transaction(() => {
      for (const t of STORE_TABLES) if ((d[t] ?? 0) > 0) this.bump.run(0, d[t], 0, t);
    })();
  }

  /** Bytes of the pages in use (the file does not shrink: freed pages are reused). */
  usedBytes(): number {
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    const size = this.db.pragma('page_size', { simple: true }) as number;
    return (pages - free) * size;
  }

  /**
   * Retention, oldest first: rows older than maxAgeUs before nowUs (or before the newest row, when that is older:
   * a store filled from an old capture file is not emptied by it), then, while the used size is above maxBytes, the
   * oldest rows of every table (a share each round). Returns the rows removed per table (also added to store_stats).
   */
  applyRetention(nowUs: number = Date.now() * 1000): TableCounts {
    const removed = zeroCounts();
    const { maxAgeUs, maxBytes } = this.retention;
    if (maxAgeUs > 0) {
      // against the newest row when it is older than now: a store filled from an old recording keeps it
      let newest = -Infinity;
      for (const t of STORE_TABLES) {
        const m = (this.db.prepare(`SELECT max(ts_us) AS m FROM ${dataTable(t)}`).get() as { m: number | null }).m;
        if (m !== null && m > newest) newest = m;
      }
      const cutoff = Math.trunc(Math.min(nowUs, newest) - maxAgeUs);
      this.db.transaction(() => {
        for (const t of STORE_TABLES) removed[t] += this.db.prepare(`DELETE FROM ${dataTable(t)} WHERE ts_us < ?`).run(cutoff).changes;
      })();
    }
    if (maxBytes > 0) {
      for (let round = 0; round < 64 && this.usedBytes() > maxBytes; round++) {
        let any = 0;
        this.db.transaction(() => {
          for (const t of STORE_TABLES) {
            const count = (this.db.prepare(`SELECT count(*) AS n FROM ${dataTable(t)}`).get() as { n: number }).n;
            if (count === 0) continue;
            const n = Math.max(1, Math.ceil(count / 20)); // 5% of the table a round
            const c = this.db.prepare(`DELETE FROM ${dataTable(t)} WHERE id IN (SELECT id FROM ${dataTable(t)} ORDER BY ts_us, id LIMIT ?)`).run(n).changes;
            removed[t] += c;
            any += c;
          }
        })();
        if (any === 0) break;
      }
    }
    this.db.transaction(() => {
      for (const t of STORE_TABLES) if (removed[t] > 0) this.bump.run(0, 0, removed[t], t);
    })();
    return removed;
  }

  stats(): StoreStats {
    const s: StoreStats = { written: zeroCounts(), dropped: zeroCounts(), removed: zeroCounts() };
    for (const r of this.db.prepare('SELECT tbl, written, dropped, removed FROM store_stats').all() as Array<{ tbl: StoreTable; written: number; dropped: number; removed: number }>) {
      s.written[r.tbl] = r.written;
      s.dropped[r.tbl] = r.dropped;
      s.removed[r.tbl] = r.removed;
    }
    return s;
  }

  close(): void {
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      /* another reader holds it: the next open checkpoints */
    }
    this.db.close();
  }
}

