/**
 * Reading a store, whatever keeps it: the one interface `wirelog query` and the explorer read through. A location is
 * a SQLite file path (the embedded store) or `clickhouse://HOST:PORT/DB` (many hosts; src/store/clickhouse-reader.ts).
 *
 * Rows come back keyed by column as the embedded store's tables name them (docs/store.md): `id`, `ts_us`,
 * (`res_ts_us` for l7), then the record's fields; JSON fields as JSON text, booleans 0/1, an L4 row's `packets` as
 * the packet BLOB. src/store/read.ts turns such a row into the record or its JSON line.
 */
import type { QueryAst } from '../query/index.js';
import type { StoreTable } from './schema.js';
import { WirelogError } from '../errors.js';

export interface ReadSpec {
  table: StoreTable;
  /** a parsed filter (parseQuery with the table's record type); absent = every row */
  filter?: QueryAst;
  /** µs since the epoch on ts_us: inclusive / exclusive */
  fromUs?: number;
  toUs?: number;
  /** exact matches on columns, e.g. `{ conn_trace_id: '1000_5000' }`; null means IS NULL */
  equals?: Readonly<Record<string, string | number | null>>;
  /** a column of the table to order by (default ts_us), then the row id in the same direction */
  orderBy?: string;
  desc?: boolean;
  limit: number;
  offset?: number;
}

export type StoreRow = Record<string, unknown>;

export interface StoreStatsRow {
  tbl: StoreTable;
  written: number;
  dropped: number;
  removed: number;
}

export interface StoreReader {
  readonly kind: 'sqlite' | 'clickhouse';
  /** as the user gave it (a ClickHouse URL without its password) */
  readonly location: string;
  /** the rows of a spec, in order, one at a time */
  iterate(spec: ReadSpec): AsyncIterable<StoreRow>;
  /** the rows of a spec, in order */
  rows(spec: ReadSpec): Promise<StoreRow[]>;
  /** how many rows a spec matches (limit and offset ignored) */
  count(spec: Omit<ReadSpec, 'limit' | 'offset' | 'orderBy' | 'desc'>): Promise<number>;
  /** rows written, dropped and removed per table, as the writers recorded them */
  stats(): Promise<StoreStatsRow[]>;
  close(): Promise<void>;
}

/** Raised for a store that cannot be opened or read (missing file, not a wirelog store, server down). */
export class StoreReadError extends WirelogError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WL_ERR_STORE', message, options);
  }
}

export const isClickHouseLocation = (location: string): boolean => /^clickhouse:\/\//i.test(location);

/** Open a store for reading: ClickHouse for a `clickhouse://` URL, else a SQLite file (read-only). */
export async function openStoreReader(location: string): Promise<StoreReader> {
  if (isClickHouseLocation(location)) {
    const ch = await import('./clickhouse-reader.js');
    return ch.openClickHouseReader(location);
  }
  const sq = await import('./sqlite-reader.js');
  return sq.openSqliteReader(location);
}
