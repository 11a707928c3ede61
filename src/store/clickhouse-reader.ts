/**
 * A ClickHouse store read through the StoreReader interface (src/store/reader.ts): the tables the writer creates
 * (src/store/clickhouse-writer.ts), or `Distributed` tables of the same names over them (docs/clickhouse.md). The
 * filter language is compiled by src/query/clickhouse-sql.ts; rows come back as the SQLite reader gives them
 * (numbers as numbers, JSON fields as JSON text, booleans 0/1, `packets` as a Buffer), plus the `agent` column.
 */
import { compileClickHouse, chIdent, chNumber, chString } from '../query/clickhouse-sql.js';
import { ClickHouseError, ClickHouseHttp, ClickHouseUrlError, parseClickHouseUrl, STATS_TABLE, type ClickHouseUrl } from './clickhouse-client.js';
import { STORE_TABLES, TABLE_COLUMNS, type StoreTable } from './schema.js';
import { StoreReadError, type ReadSpec, type StoreReader, type StoreRow, type StoreStatsRow } from './reader.js';

const SETTINGS = { output_format_json_quote_64bit_integers: '0', output_format_json_quote_denormals: '0' };

/** The columns a reader selects: id, the store's columns, then agent. */
const selectColumns = (t: StoreTable): string[] => ['id', ...TABLE_COLUMNS[t], 'agent'];

/** The WHERE clause of a spec (without order, limit, offset). */
export function clickHouseWhere(spec: Omit<ReadSpec, 'limit'>): string {
  const conds: string[] = [];
  if (spec.filter !== undefined) conds.push(compileClickHouse(spec.filter));
  if (spec.fromUs !== undefined) conds.push(`ts_us >= ${chNumber(Math.ceil(spec.fromUs))}`);
  if (spec.toUs !== undefined) conds.push(`ts_us < ${chNumber(Math.ceil(spec.toUs))}`);
  const cols = new Set(selectColumns(spec.table));
  for (const [c, v] of Object.entries(spec.equals ?? {})) {
    if (!cols.has(c)) throw new StoreReadError(`table ${spec.table} has no column '${c}'`);
    if (v === null) conds.push(`isNull(${chIdent(c)})`);
    else conds.push(`ifNull(${chIdent(c)} = ${typeof v === 'number' ? chNumber(v) : chString(v)}, 0)`);
  }
  return conds.length === 0 ? '1' : conds.map((c) => `(${c})`).join(' AND ');
}

export class ClickHouseStoreReader implements StoreReader {
  readonly kind = 'clickhouse' as const;
  readonly location: string;
  private constructor(private readonly url: ClickHouseUrl, private readonly http: ClickHouseHttp) {
    this.location = url.display;
  }

  static async open(location: string): Promise<ClickHouseStoreReader> {
    let url: ClickHouseUrl;
    try {
      url = parseClickHouseUrl(location);
    } catch (err) {
      throw new StoreReadError((err as ClickHouseUrlError).message);
    }
    const http = new ClickHouseHttp(url);
    try {
      const tables = await http.query(`SELECT name FROM system.tables WHERE database = ${chString(url.database)} FORMAT TabSeparated`, { timeoutMs: 10_000 });
      const have = new Set(tables.split('\n'));
      if (!STORE_TABLES.some((t) => have.has(t))) throw new StoreReadError(`store ${url.display}: not a wirelog store (no table l7, l4, tls or netns in database ${url.database})`);
    } catch (err) {
      http.close();
      if (err instanceof StoreReadError) throw err;
      throw new StoreReadError(`store ${url.display}: ${(err as Error).message}`);
    }
    return new ClickHouseStoreReader(url, http);
  }

  private fail(err: unknown): never {
    if (err instanceof StoreReadError) throw err;
    if (err instanceof ClickHouseError) throw new StoreReadError(`store ${this.url.display}: ${err.message}`);
    throw err;
  }

  private select(spec: ReadSpec): string {
    const where = clickHouseWhere(spec);
    const order = spec.orderBy ?? 'ts_us';
    if (order !== 'id' && !TABLE_COLUMNS[spec.table].includes(order) && order !== 'agent') throw new StoreReadError(`table ${spec.table} has no column '${order}'`);
    const dir = spec.desc === true ? 'DESC' : 'ASC';
    const limit = Math.max(0, Math.trunc(spec.limit));
    const offset = Math.max(0, Math.trunc(spec.offset ?? 0));
    // NULLs first ascending, as SQLite orders them
    const nulls = dir === 'ASC' ? 'NULLS FIRST' : 'NULLS LAST';
    return `SELECT ${selectColumns(spec.table).map(chIdent).join(', ')} FROM ${this.url.database}.${spec.table} WHERE ${where} ` +
      `ORDER BY ${chIdent(order)} ${dir} ${nulls}, id ${dir} LIMIT ${offset}, ${limit} FORMAT JSONEachRow`;
  }

  private static row(t: StoreTable, line: string): StoreRow {
    const r = JSON.parse(line) as StoreRow;
    if (t === 'l4' && typeof r.packets === 'string') r.packets = Buffer.from(r.packets, 'base64');
    // 18.16 prints some Float64 values with 17 digits (1.277 as 1.2770000000000001); latency_ms is whole
    // microseconds / 1000, so 15 significant digits give back the value that was written
    if (typeof r.latency_ms === 'number') r.latency_ms = Number(r.latency_ms.toPrecision(15));
    return r;
  }

  async *iterate(spec: ReadSpec): AsyncIterable<StoreRow> {
    if (spec.limit <= 0) return;
    const sql = this.select(spec);
    try {
      for await (const line of this.http.lines(sql, { settings: SETTINGS })) if (line !== '') yield ClickHouseStoreReader.row(spec.table, line);
    } catch (err) {
      this.fail(err);
    }
  }

  async rows(spec: ReadSpec): Promise<StoreRow[]> {
    const out: StoreRow[] = [];
    for await (const r of this.iterate(spec)) out.push(r);
    return out;
  }

  async count(spec: Omit<ReadSpec, 'limit' | 'offset' | 'orderBy' | 'desc'>): Promise<number> {
    try {
      const n = await this.http.query(`SELECT count() FROM ${this.url.database}.${spec.table} WHERE ${clickHouseWhere(spec)} FORMAT TabSeparated`);
      return Number(n.trim());
    } catch (err) {
      this.fail(err);
    }
  }

  /** Sums of wirelog_stats per table (every agent, every run); zeros when the database has no such table. */
  async stats(): Promise<StoreStatsRow[]> {
    const out = new Map<StoreTable, StoreStatsRow>(STORE_TABLES.map((t) => [t, { tbl: t, written: 0, dropped: 0, removed: 0 }]));
    try {
      const exists = (await this.http.query(`EXISTS TABLE ${this.url.database}.${STATS_TABLE} FORMAT TabSeparated`)).trim() === '1';
      if (exists) {
        const text = await this.http.query(
          `SELECT tbl, sum(written), sum(dropped) + sum(rejected), sum(removed) FROM ${this.url.database}.${STATS_TABLE} GROUP BY tbl FORMAT TabSeparated`);
        for (const l of text.split('\n')) {
          const [tbl, w, d, r] = l.split('\t');
          if (out.has(tbl as StoreTable)) out.set(tbl as StoreTable, { tbl: tbl as StoreTable, written: Number(w), dropped: Number(d), removed: Number(r) });
        }
      }
    } catch (err) {
      this.fail(err);
    }
    return [...out.values()].sort((a, b) => (a.tbl < b.tbl ? -1 : a.tbl > b.tbl ? 1 : 0));
  }

  async close(): Promise<void> {
    this.http.close();
  }
}

export async function openClickHouseReader(location: string): Promise<StoreReader> {
  return ClickHouseStoreReader.open(location);
}
