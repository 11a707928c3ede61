/**
 * The embedded store read through the StoreReader interface (src/store/reader.ts): the file opened read-only, its
 * schema version checked, the filter language compiled to SQLite (src/query/sql.ts).
 */
import Database from 'better-sqlite3';
import { compileSql, registerQueryFunctions } from '../query/index.js';
import { SCHEMA_VERSION, schemaVersion, TABLE_COLUMNS, type StoreTable } from './schema.js';
import { StoreReadError, type ReadSpec, type StoreReader, type StoreRow, type StoreStatsRow } from './reader.js';

const quote = (c: string): string => `"${c.replace(/"/g, '""')}"`;

/** The WHERE clause and its parameters of a spec (without order, limit, offset). */
export function sqliteWhere(spec: Omit<ReadSpec, 'limit'>): { where: string; params: unknown[] } {
  const conds: string[] = [];
  const params: unknown[] = [];
  if (spec.filter !== undefined) {
    const w = compileSql(spec.filter);
    conds.push(w.where);
    params.push(...w.params);
  }
  if (spec.fromUs !== undefined) {
    conds.push('ts_us >= ?');
    params.push(spec.fromUs);
  }
  if (spec.toUs !== undefined) {
    conds.push('ts_us < ?');
    params.push(spec.toUs);
  }
  const cols = new Set(['id', ...TABLE_COLUMNS[spec.table]]);
  for (const [c, v] of Object.entries(spec.equals ?? {})) {
    if (!cols.has(c)) throw new StoreReadError(`table ${spec.table} has no column '${c}'`);
    if (v === null) conds.push(`${quote(c)} IS NULL`);
    else {
      conds.push(`${quote(c)} = ?`);
      params.push(v);
    }
  }
  return { where: conds.length === 0 ? '1' : conds.map((c) => `(${c})`).join(' AND '), params };
}

export class SqliteStoreReader implements StoreReader {
  readonly kind = 'sqlite' as const;
  private constructor(readonly location: string, private readonly db: Database.Database) {}

  static open(file: string): SqliteStoreReader {
    let db: Database.Database;
    try {
      db = new Database(file, { readonly: true, fileMustExist: true });
    } catch (err) {
      throw new StoreReadError(`store ${file}: ${(err as Error).message}`);
    }
    try {
      let version: number;
      try {
        version = schemaVersion(db);
      } catch (err) {
        throw new StoreReadError(`store ${file}: not a wirelog store (${(err as Error).message})`);
      }
      if (version === 0) throw new StoreReadError(`store ${file}: not a wirelog store (no schema version)`);
      if (version > SCHEMA_VERSION) throw new StoreReadError(`store ${file}: schema version ${version} is newer than this wirelog's (${SCHEMA_VERSION})`);
      registerQueryFunctions(db);
    } catch (err) {
      db.close();
      throw err;
    }
    return new SqliteStoreReader(file, db);
  }

  private select(spec: ReadSpec): { sql: string; params: unknown[] } {
    const { where, params } = sqliteWhere(spec);
    const order = spec.orderBy ?? 'ts_us';
    if (order !== 'id' && !TABLE_COLUMNS[spec.table].includes(order)) throw new StoreReadError(`table ${spec.table} has no column '${order}'`);
    const dir = spec.desc === true ? 'DESC' : 'ASC';
    params.push(spec.limit, spec.offset ?? 0);
    return { sql: `SELECT * FROM ${spec.table} WHERE ${where} ORDER BY ${quote(order)} ${dir}, id ${dir} LIMIT ? OFFSET ?`, params };
  }

  async *iterate(spec: ReadSpec): AsyncIterable<StoreRow> {
    const { sql, params } = this.select(spec);
    for (const row of this.db.prepare(sql).iterate(...params) as Iterable<StoreRow>) yield row;
  }

  async rows(spec: ReadSpec): Promise<StoreRow[]> {
    const { sql, params } = this.select(spec);
    return this.db.prepare(sql).all(...params) as StoreRow[];
  }

  async count(spec: Omit<ReadSpec, 'limit' | 'offset' | 'orderBy' | 'desc'>): Promise<number> {
    const { where, params } = sqliteWhere(spec);
    return (this.db.prepare(`SELECT count(*) AS n FROM ${spec.table} WHERE ${where}`).get(...params) as { n: number }).n;
  }

  async stats(): Promise<StoreStatsRow[]> {
    return this.db.prepare('SELECT tbl, written, dropped, removed FROM store_stats ORDER BY tbl').all() as StoreStatsRow[];
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

export function openSqliteReader(file: string): StoreReader {
  return SqliteStoreReader.open(file);
}

export type { StoreTable };
