/**
 * The embedded store's schema (docs/store.md), version 2: tables `l7`, `l4`, `tls`, `netns` (one column per field of
 * the records of docs/schema.md, same names), `store_stats` (rows written, dropped, removed by retention, per table)
 * and `meta` (the schema version). `migrate(db)` creates it or upgrades an older one; a newer one is refused.
 *
 * Version 2 changes `l7` only, for ingest speed (docs/performance.md, "Store"): its rows are in `l7_data` (six
 * columns of their own, the other fields in one JSON array) and `l7` is a view giving back the version-1 columns,
 * so `SELECT * FROM l7` reads the same as before. Indexes: `l7_ts` and `l7_status` only.
 *
 * Also the L4 packet BLOB (encodePackets / decodePackets) and the row builders shared by the writer and the tests.
 */
import type { Database } from 'better-sqlite3';
import type { HttpTransaction, L4Chunk, L4Packet, TlsHelloEvent, TraceTransaction } from '../records.js';
import { toTraceRecord } from '../sinks/trace-jsonl.js';
import {
  HTTP_RECORD_FIELDS, hopsJson, l7TraceId, latency, num, statusOf, str, toHttpRecord, toTlsRecord, TLS_RECORD_FIELDS, transactionAnomalies, transactionTsUs,
} from '../sinks/schema.js';
import { L4_RECORD_FIELDS, l4Direction } from '../sinks/l4-jsonl.js';
import { IsoTimeFormatter } from '../sinks/local-time.js';
import type { NetnsInfo } from '../source/attribution.js';
import { NETNS_RECORD_FIELDS, toNetnsRecord } from '../sinks/netns-jsonl.js';
import { WirelogError } from '../errors.js';

export const SCHEMA_VERSION = 2;

export type StoreTable = 'l7' | 'l4' | 'tls' | 'netns';
export const STORE_TABLES: readonly StoreTable[] = ['l7', 'l4', 'tls', 'netns'];

export class StoreSchemaError extends WirelogError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WL_ERR_STORE_SCHEMA', message, options);
  }
}

/** SQL types of the record fields that are not TEXT. JSON arrays/objects are TEXT holding JSON. */
const INTEGER_FIELDS = new Set([
  'conn_id', 'req_id', 'src_port', 'dst_port', 'status', 'content_length', 'netns', 'pid', 'req_content_length',
  'req_body_bytes', 'res_body_bytes', 'gap_bytes', 'req_seq', 'resp_seq',
  'client_port', 'server_port', 'ifindex', 'chunk_id', 'chunk_syn', 'chunk_fin', 'tx_packets', 'rx_packets', 'tx_bytes',
  'rx_bytes', 'tx_retrans', 'rx_retrans', 'tx_seq_min', 'tx_seq_max', 'rx_seq_min', 'rx_seq_max', 'tcp_rtt_us',
  'tcp_3whs_us', 'tcp_4whs_us', 'cipher_suites', 'process_count',
]);
const REAL_FIELDS = new Set(['latency_ms']);
/** Fields stored as JSON text. */
export const JSON_FIELDS: ReadonlySet<string> = new Set(['interim', 'anomalies', 'hops', 'alpn', 'processes']);
/** L4 booleans, stored 0/1. */
export const BOOL_FIELDS: ReadonlySet<string> = new Set(['chunk_syn', 'chunk_fin']);

const sqlType = (f: string): string => (f === 'packets' ? 'BLOB' : INTEGER_FIELDS.has(f) ? 'INTEGER' : REAL_FIELDS.has(f) ? 'REAL' : 'TEXT');

/** Columns of each table after `id`, in insert order: `ts_us` (and `res_ts_us` for l7), then the record's fields
 *  in the documented order, without `record` (the table is the record type). */
export const TABLE_COLUMNS: Record<StoreTable, readonly string[]> = {
  l7: ['ts_us', 'res_ts_us', ...HTTP_RECORD_FIELDS.filter((f) => f !== 'record')],
  l4: ['ts_us', ...L4_RECORD_FIELDS.filter((f) => f !== 'record')],
  tls: ['ts_us', ...TLS_RECORD_FIELDS.filter((f) => f !== 'record')],
  netns: ['ts_us', ...NETNS_RECORD_FIELDS.filter((f) => f !== 'record')],
};

/** The record fields of a table (its columns without id, ts_us, res_ts_us). */
export function recordColumns(t: StoreTable): string[] {
  return TABLE_COLUMNS[t].filter((c) => c !== 'ts_us' && c !== 'res_ts_us');
}

function createTableV1(t: StoreTable): string {
  const cols = TABLE_COLUMNS[t].map((c) => `  ${c} ${c === 'ts_us' ? 'INTEGER NOT NULL' : c === 'res_ts_us' ? 'INTEGER' : sqlType(c)}`);
  return `CREATE TABLE ${t} (\n  id INTEGER PRIMARY KEY,\n${cols.join(',\n')}\n)`;
}

// ---- l7, version 2 ----------------------------------------------------------------------------------------------

/**
 * Version 2 keeps l7 rows in the table `l7_data`: the columns the list queries sort, seek or filter on as columns of
 * their own (L7_STORED_COLUMNS: ts_us, dst_ip, uri, host, status, latency_ms), every other field in one JSON array,
 * `rest_json` (L7_REST_FIELDS order). `l7` is a VIEW over it with exactly the version-1 columns (`id`, then
 * TABLE_COLUMNS.l7): each rest field through json_extract, `ts` / `res_ts` computed from the µs times (the text of
 * IsoTimeFormatter: UTC, 6 digits, `Z`). A view, not generated columns: SQLite computes generated columns on every
 * INSERT, which halved the rows a second (docs/performance.md).
 */
const L7_OWN = new Set(['ts_us', 'dst_ip', 'uri', 'host', 'status', 'latency_ms']);
/** `ts` and `res_ts`: computed from ts_us / res_ts_us. */
const L7_TIME_TEXT = new Set(['ts', 'res_ts']);

/** The table that holds a table's rows: `l7_data` for l7 (l7 is a view over it), the table itself for the others. */
export const dataTable = (t: StoreTable): string => (t === 'l7' ? 'l7_data' : t);

/** The fields of an l7 row kept in `rest_json` (a JSON array, in this order). */
export const L7_REST_FIELDS: readonly string[] = TABLE_COLUMNS.l7.filter((c) => !L7_OWN.has(c) && !L7_TIME_TEXT.has(c));

/** The columns an l7 row is inserted into in version 2 (the stored row, `l7StoredRow`), in order. */
export const L7_STORED_COLUMNS: readonly string[] = [...TABLE_COLUMNS.l7.filter((c) => L7_OWN.has(c)), 'rest_json'];
export const L7_STORED_WIDTH = L7_STORED_COLUMNS.length;

const isoOf = (c: string): string => `strftime('%Y-%m-%dT%H:%M:%S', ${c} / 1000000, 'unixepoch') || printf('.%06dZ', ${c} % 1000000)`;
const restOf = (f: string): string => `json_extract(rest_json, '$[${L7_REST_FIELDS.indexOf(f)}]')`;

function createL7Data(name = 'l7_data'): string {
  const cols = L7_STORED_COLUMNS.map((c) => `  ${c} ${c === 'ts_us' ? 'INTEGER NOT NULL' : c === 'rest_json' ? 'TEXT NOT NULL' : sqlType(c)}`);
  return `CREATE TABLE ${name} (\n  id INTEGER PRIMARY KEY,\n${cols.join(',\n')}\n)`;
}

function createL7View(): string {
  const cols = TABLE_COLUMNS.l7.map((c) => {
    if (c === 'ts') return `${isoOf('ts_us')} AS ts`;
    if (c === 'res_ts') return `CASE WHEN ${restOf('res_ts_us')} IS NULL THEN NULL ELSE ${isoOf(restOf('res_ts_us'))} END AS res_ts`;
    if (L7_OWN.has(c)) return c;
    return `${restOf(c)} AS ${c}`;
  });
  return `CREATE VIEW l7 AS SELECT id, ${cols.join(', ')} FROM l7_data`;
}

const createTable = (t: StoreTable): string[] => (t === 'l7' ? [createL7Data(), createL7View()] : [createTableV1(t)]);

/** A value as JSON text (strings, finite numbers, null; booleans 1/0 as the v1 columns held them). */
function jsonValue(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (typeof v === 'bigint') return String(v);
  throw new TypeError(`an l7 field cannot hold ${typeof v}`);
}

const L7_INDEX = (c: string): number => TABLE_COLUMNS.l7.indexOf(c);
const STORED_FROM = L7_STORED_COLUMNS.slice(0, -1).map(L7_INDEX);
const REST_FROM = L7_REST_FIELDS.map(L7_INDEX);
const REST_JSON = L7_REST_FIELDS.map((f) => JSON_FIELDS.has(f));

/** The stored l7 row (L7_STORED_COLUMNS order) of a row in TABLE_COLUMNS.l7 order (l7Row, l7RowOfTrace). */
export function l7StoredOfRow(row: Row): Row {
  const out: Row = STORED_FROM.map((i) => row[i] ?? null);
  let rest = '[';
  for (let k = 0; k < REST_FROM.length; k++) {
    const v = row[REST_FROM[k]!];
    // JSON fields hold their JSON text already
    rest += (k > 0 ? ',' : '') + (REST_JSON[k] && typeof v === 'string' ? v : jsonValue(v));
  }
  out.push(rest + ']');
  return out;
}


/**
 * Stored l7 rows by column: L7_STORED_WIDTH arrays of equal length, column k holding L7_STORED_COLUMNS[k] of every
 * row. What the capture thread builds and posts: a few arrays of a batch's length (young, regular heap objects, cheap
 * to clone) instead of an array per row, or one flat array (a large object: its growth copies set off full GCs).
 */
export type L7Columns = SqlValue[][];
export const newL7Columns = (): L7Columns => Array.from({ length: L7_STORED_WIDTH }, () => []);

/** Append a stored row (L7_STORED_COLUMNS order) to columns. */
export function pushL7StoredRow(row: Row, cols: L7Columns): void {
  for (let k = 0; k < L7_STORED_WIDTH; k++) cols[k]!.push(row[k] ?? null);
}

/** Row i of columns. */
export const l7ColumnsRow = (cols: L7Columns, i: number): Row => cols.map((c) => c[i]!);

/**
 * The stored l7 row of a transaction (L7_STORED_COLUMNS order), appended to columns: what the capture thread
 * builds (no ISO text but the hops', no array per row). Equals l7StoredOfRow(l7Row(tx, iso)) (tested).
 */
export function pushL7Stored(tx: HttpTransaction, iso: IsoTimeFormatter, cols: L7Columns): void {
  const { conn, req, res } = tx;
  const interim: number[] = [];
  for (let i = 0; i < tx.interim.length; i++) interim.push(tx.interim[i]!.status);
  const lat = latency(tx);
  const place = conn.place;
  const anomalies = transactionAnomalies(tx);
  let a = '[';
  for (let i = 0; i < anomalies.length; i++) a += (i > 0 ? ',' : '') + str(anomalies[i]);
  // L7_REST_FIELDS order (checked below); str/num/hopsJson write the JSON line's own text for each value
  const rest = '[' + (res === undefined ? 'null' : num(Math.trunc(res.tsUs))) + ',' + str(conn.kind) + ',' + num(conn.connId) + ',' + num(tx.reqId) +
    ',' + str(conn.clientIp) + ',' + num(conn.clientPort) + ',' + num(conn.serverPort) + ',' + str(req?.method) + ',' + str(req?.version) +
    ',' + str(req?.userAgent) + ',' + (res === undefined || res.status === 0 ? 'null' : str(res.reason)) + ',' + num(res?.contentLength) +
    ',' + str(res?.contentType) + ',' + str(conn.ifname) + ',' + num(conn.netns) + ',null,null,' + str(res?.version) + ',' + num(req?.contentLength) +
    ',' + str(req?.contentType) + ',' + num(tx.reqBodyBytes) + ',' + num(tx.resBodyBytes) + ',[' + interim.join(',') + '],' + num(tx.gapBytes) +
    ',' + str(tx.incomplete) + ',' + a + '],' + num(req?.seq) + ',' + num(res?.seq) + ',' + str(l7TraceId(tx) ?? undefined) + ',' + str(conn.connTraceId) +
    ',' + str(place?.netnsName ?? undefined) + ',' + str(place?.containerId ?? undefined) + ',' + str(place?.podUid ?? undefined) +
    ',' + (tx.hops === undefined ? 'null' : hopsJson(tx.hops, iso)) + ']';
  // a flat string, not a rope of ~60 pieces kept alive in the batch (charCodeAt flattens it)
  rest.charCodeAt(0);
  cols[0]!.push(Math.trunc(transactionTsUs(tx)));
  cols[1]!.push(conn.serverIp);
  cols[2]!.push(req?.uri ?? null);
  cols[3]!.push(req?.host ?? null);
  cols[4]!.push(statusOf(tx));
  cols[5]!.push(lat === null || !Number.isFinite(lat) ? null : lat);
  cols[6]!.push(rest);
}
if (L7_STORED_COLUMNS.join() !== 'ts_us,dst_ip,uri,host,status,latency_ms,rest_json' || L7_REST_FIELDS.join() !== 'res_ts_us,kind,conn_id,req_id,src_ip,src_port,' +
  'dst_port,method,version,user_agent,reason,content_length,content_type,ifname,netns,pid,comm,res_version,req_content_length,req_content_type,' +
  'req_body_bytes,res_body_bytes,interim,gap_bytes,incomplete,anomalies,req_seq,resp_seq,l7_trace_id,conn_trace_id,netns_name,container_id,pod_uid,hops')
  throw new Error('pushL7Stored: the l7 columns changed; update it');

/** pushL7Stored as one row. */
export function l7StoredRow(tx: HttpTransaction, iso: IsoTimeFormatter): Row {
  const cols = newL7Columns();
  pushL7Stored(tx, iso, cols);
  return l7ColumnsRow(cols, 0);
}

/** Version 1's l7 indexes (the migration drops them). */
const L7_INDEXES_V1: string[] = [
  'CREATE INDEX l7_ts ON l7(ts_us)',
  'CREATE INDEX l7_trace ON l7(l7_trace_id)',
  'CREATE INDEX l7_conn_trace ON l7(conn_trace_id)',
  'CREATE INDEX l7_dst ON l7(dst_ip, dst_port)',
  'CREATE INDEX l7_status ON l7(status)',
  'CREATE INDEX l7_host ON l7(host)',
  'CREATE INDEX l7_uri ON l7(uri)',
];

/**
 * Version 2's l7 indexes (docs/store.md, "Indexes"): time order (every list is newest first) and status, then time
 * (the one list filter the compiled SQL can seek on: `status = 599` finds nothing at once, and `status = 200` reads
 * its newest rows in order — on `(status)` alone SQLite sorted all of them: 5.7 s on 1M rows). The v1 indexes on host, uri, dst and
 * the trace ids cost ingest and served no list query: the compiled `host =`, `path ^=` and `in CIDR` filters cannot
 * use them (substr(), cidr_contains()).
 */
const L7_INDEXES: string[] = [
  'CREATE INDEX l7_ts ON l7_data(ts_us)',
  'CREATE INDEX l7_status ON l7_data(status, ts_us)',
];

const OTHER_INDEXES: string[] = [
  'CREATE INDEX l4_ts ON l4(ts_us)',
  'CREATE INDEX l4_conn_trace ON l4(conn_trace_id)',
  'CREATE INDEX l4_server ON l4(server_ip, server_port)',
  'CREATE INDEX l4_inner ON l4(inner_trace_id)',
  'CREATE INDEX tls_ts ON tls(ts_us)',
  'CREATE INDEX tls_conn_trace ON tls(conn_trace_id)',
  'CREATE INDEX netns_ts ON netns(ts_us)',
  'CREATE INDEX netns_inode ON netns(netns)',
];

export const INDEXES: readonly string[] = [...L7_INDEXES, ...OTHER_INDEXES];
/** The l7 indexes of version 2 (the benchmark checks a cached store against them). */
export const L7_INDEXES_V2: readonly string[] = L7_INDEXES;

/** The whole current schema, as SQL statements. */
export function schemaStatements(): string[] {
  return [
    'CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)',
    ...STORE_TABLES.flatMap(createTable),
    'CREATE TABLE store_stats (tbl TEXT PRIMARY KEY, written INTEGER NOT NULL DEFAULT 0, dropped INTEGER NOT NULL DEFAULT 0, removed INTEGER NOT NULL DEFAULT 0)',
    ...STORE_TABLES.map((t) => `INSERT INTO store_stats (tbl) VALUES ('${t}')`),
    ...INDEXES,
    `INSERT INTO meta (key, value) VALUES ('schema_version', '${SCHEMA_VERSION}')`,
  ];
}

/** The version-1 schema exactly as wirelog's version 1 created it (the migration's tests, the v1 benchmark). */
export function schemaStatementsV1(): string[] {
  return [
    'CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)',
    ...STORE_TABLES.map(createTableV1),
    'CREATE TABLE store_stats (tbl TEXT PRIMARY KEY, written INTEGER NOT NULL DEFAULT 0, dropped INTEGER NOT NULL DEFAULT 0, removed INTEGER NOT NULL DEFAULT 0)',
    ...STORE_TABLES.map((t) => `INSERT INTO store_stats (tbl) VALUES ('${t}')`),
    ...L7_INDEXES_V1,
    ...OTHER_INDEXES,
    "INSERT INTO meta (key, value) VALUES ('schema_version', '1')",
  ];
}

/** Version 1's `INSERT INTO t (cols) VALUES (?, …)` (l7 rows in TABLE_COLUMNS.l7 order, as l7Row builds them). */
export function insertSqlV1(t: StoreTable): string {
  const cols = TABLE_COLUMNS[t];
  return `INSERT INTO ${t} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`;
}

/** 1 → 2: l7 rows copied into l7_data (the other fields into rest_json), ids kept, table l7 replaced by the view;
 *  l7 indexes reduced to l7_ts and l7_status. The other tables are unchanged. */
function migrateV1toV2(db: Database): void {
  db.exec(createL7Data());
  const own = L7_STORED_COLUMNS.slice(0, -1);
  const rest = L7_REST_FIELDS.map((f) => (JSON_FIELDS.has(f) ? `json(${f})` : f)).join(', ');
  db.exec(`INSERT INTO l7_data (id, ${own.join(', ')}, rest_json) SELECT id, ${own.join(', ')}, json_array(${rest}) FROM l7 ORDER BY id`);
  db.exec('DROP TABLE l7'); // and its indexes
  db.exec(createL7View());
  for (const s of L7_INDEXES) db.exec(s);
}

/** The schema version of a database: 0 when it has no wirelog schema (empty). */
export function schemaVersion(db: Database): number {
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
  if (hasMeta === undefined) return 0;
  const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
  return row === undefined ? 0 : Number(row.value);
}

/**
 * Upgrades from version N to N+1 (index N-1); migrate() runs the missing ones in one transaction.
 * 1 → 2: l7 rebuilt in the version-2 layout (migrateV1toV2).
 */
const MIGRATIONS: Array<(db: Database) => void> = [migrateV1toV2];

/** Create the schema in an empty database, or upgrade an older one; refuse a newer one (StoreSchemaError). */
export function migrate(db: Database, file = 'the store'): number {
  const v = schemaVersion(db);
  if (v > SCHEMA_VERSION)
    throw new StoreSchemaError(`${file}: schema version ${v} is newer than this wirelog's (${SCHEMA_VERSION}); use a newer wirelog or another --store`);
  if (v === SCHEMA_VERSION) return v;
  db.transaction(() => {
    if (v === 0) {
      const other = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' LIMIT 1").get() as { name: string } | undefined;
      if (other !== undefined) throw new StoreSchemaError(`${file}: not a wirelog store (it has a table '${other.name}' and no schema version)`);
      for (const s of schemaStatements()) db.exec(s);
      return;
    }
    for (let from = v; from < SCHEMA_VERSION; from++) MIGRATIONS[from - 1]!(db);
    db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION));
  })();
  return SCHEMA_VERSION;
}

// ---- the L4 packet BLOB -------------------------------------------------------------------------------------------

/**
 * Layout (little-endian), docs/store.md: a 12-byte header — u8 layout version (1), u8 entry size (24), u16 reserved,
 * f64 base time (µs since the epoch, an integer: the chunk's first packet) — then 24 bytes per packet:
 *   0 i32 time − base, µs     4 u16 ns past that µs (0..999)   6 u8 bits: 1 = tx, 2 = not TCP (UDP)
 *   7 u8 TCP flags            8 u32 seq                        12 u32 ack
 *   16 u32 payload length     20 u16 window                    22 u16 reserved (0)
 * UDP packets have bit 2 set and seq, ack, flags and window 0 (read back as null).
 */
export const PACKET_BLOB_VERSION = 1;
export const PACKET_HEADER_BYTES = 12;
export const PACKET_ENTRY_BYTES = 24;

export function encodePackets(packets: readonly L4Packet[]): Buffer {
  const buf = Buffer.allocUnsafe(PACKET_HEADER_BYTES + PACKET_ENTRY_BYTES * packets.length);
  const base = packets.length > 0 ? Math.trunc(packets[0]!.tsUs) : 0;
  buf.writeUInt8(PACKET_BLOB_VERSION, 0);
  buf.writeUInt8(PACKET_ENTRY_BYTES, 1);
  buf.writeUInt16LE(0, 2);
  buf.writeDoubleLE(base, 4);
  let o = PACKET_HEADER_BYTES;
  for (const p of packets) {
    const dt = Math.trunc(p.tsUs) - base;
    if (dt < -0x80000000 || dt > 0x7fffffff) throw new RangeError(`packet time ${p.tsUs} is more than 35 minutes from the chunk's first`);
    const udp = p.flags < 0;
    buf.writeInt32LE(dt, o);
    buf.writeUInt16LE(p.nsRem, o + 4);
    buf.writeUInt8((p.tx ? 1 : 0) | (udp ? 2 : 0), o + 6);
    buf.writeUInt8(udp ? 0 : p.flags & 0xff, o + 7);
    buf.writeUInt32LE(udp ? 0 : p.seq >>> 0, o + 8);
    buf.writeUInt32LE(udp ? 0 : p.ack >>> 0, o + 12);
    buf.writeUInt32LE(p.len >>> 0, o + 16);
    buf.writeUInt16LE(udp ? 0 : p.win & 0xffff, o + 20);
    buf.writeUInt16LE(0, o + 22);
    o += PACKET_ENTRY_BYTES;
  }
  return buf;
}

/** The packets of a BLOB (flags -1 for UDP, as in L4Packet). */
export function decodePackets(blob: Uint8Array): L4Packet[] {
  const buf = Buffer.isBuffer(blob) ? blob : Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (buf.length < PACKET_HEADER_BYTES) throw new RangeError('packet blob shorter than its header');
  const version = buf.readUInt8(0), size = buf.readUInt8(1);
  if (version !== PACKET_BLOB_VERSION) throw new RangeError(`packet blob layout ${version} is not known`);
  if ((buf.length - PACKET_HEADER_BYTES) % size !== 0) throw new RangeError('packet blob length is not a whole number of entries');
  const base = buf.readDoubleLE(4);
  const out: L4Packet[] = [];
  for (let o = PACKET_HEADER_BYTES; o < buf.length; o += size) {
    const bits = buf.readUInt8(o + 6);
    const udp = (bits & 2) !== 0;
    out.push({
      tsUs: base + buf.readInt32LE(o),
      nsRem: buf.readUInt16LE(o + 4),
      tx: (bits & 1) !== 0,
      flags: udp ? -1 : buf.readUInt8(o + 7),
      seq: buf.readUInt32LE(o + 8),
      ack: buf.readUInt32LE(o + 12),
      len: buf.readUInt32LE(o + 16),
      win: buf.readUInt16LE(o + 20),
    });
  }
  return out;
}

// ---- rows -------------------------------------------------------------------------------------------------------

export type SqlValue = string | number | bigint | Buffer | null;
export type Row = SqlValue[];

const sqlValue = (field: string, v: unknown): SqlValue => {
  if (v === undefined || v === null) return null;
  if (JSON_FIELDS.has(field)) return JSON.stringify(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' && !Number.isFinite(v)) return null;
  return v as SqlValue;
};

/** An L7 row in TABLE_COLUMNS.l7 order, built field by field (the capture thread pays for it: no record object). */
export function l7Row(tx: HttpTransaction, iso: IsoTimeFormatter): Row {
  const { conn, req, res } = tx;
  const ts = Math.trunc(transactionTsUs(tx));
  const anomalies = transactionAnomalies(tx);
  let interim = '[';
  for (let i = 0; i < tx.interim.length; i++) interim += (i > 0 ? ',' : '') + tx.interim[i]!.status;
  const lat = latency(tx);
  const place = conn.place;
  return [
    ts, res === undefined ? null : Math.trunc(res.tsUs), iso.format(ts), conn.kind, conn.connId, tx.reqId,
    conn.clientIp, conn.clientPort, conn.serverIp, conn.serverPort,
    req?.method ?? null, req?.uri ?? null, req?.version ?? null, req?.host ?? null, req?.userAgent ?? null,
    statusOf(tx), res === undefined || res.status === 0 ? null : res.reason, res?.contentLength ?? null, res?.contentType ?? null,
    lat === null || !Number.isFinite(lat) ? null : lat, conn.ifname ?? null, conn.netns ?? null, null, null,
    res === undefined ? null : iso.format(res.tsUs), res?.version ?? null, req?.contentLength ?? null, req?.contentType ?? null,
    tx.reqBodyBytes, tx.resBodyBytes, interim + ']', tx.gapBytes, tx.incomplete ?? null,
    anomalies.length === 0 ? '[]' : JSON.stringify(anomalies), req?.seq ?? null, res?.seq ?? null, l7TraceId(tx),
    conn.connTraceId ?? null, place?.netnsName ?? null, place?.containerId ?? null, place?.podUid ?? null,
    tx.hops === undefined ? null : hopsJson(tx.hops, iso),
  ];
}

/** The same row through the record object (slower; the reference l7Row is tested against). */
export function l7RowOfRecord(tx: HttpTransaction, iso: IsoTimeFormatter): Row {
  const r = toHttpRecord(tx, iso) as unknown as Record<string, unknown>;
  const row: Row = [Math.trunc(transactionTsUs(tx)), tx.res === undefined ? null : Math.trunc(tx.res.tsUs)];
  for (let i = 2; i < TABLE_COLUMNS.l7.length; i++) {
    const f = TABLE_COLUMNS.l7[i]!;
    row.push(sqlValue(f, r[f]));
  }
  return row;
}

/**
 * An L7 row of a `wirelog trace` transaction: its docs/schema.md record (pid and comm known, no TCP sequence
 * numbers or hops); the trace-only fields (headers, protocol, role, stream id) have no columns in schema v1.
 */
export function l7RowOfTrace(tx: TraceTransaction, iso: IsoTimeFormatter): Row {
  const r = toTraceRecord(tx, 'redacted', iso) as unknown as Record<string, unknown>;
  const ts = Math.trunc(tx.req?.tsUs ?? tx.res?.tsUs ?? 0);
  return [ts, tx.res === undefined ? null : Math.trunc(tx.res.tsUs), ...recordColumns('l7').map((f) => sqlValue(f, r[f]))];
}

/** An L4 row in TABLE_COLUMNS.l4 order; `packets` as a BLOB. */
export function l4Row(c: L4Chunk, iso: IsoTimeFormatter): Row {
  const first = c.packets[0]?.tsUs ?? 0;
  return [
    Math.trunc(first), iso.format(first), c.proto, c.clientIp, c.clientPort, c.serverIp, c.serverPort,
    c.srcIp, c.srcPort, c.dstIp, c.dstPort, l4Direction(c), c.connSide, c.ifname ?? null, c.ifindex, c.netns ?? null,
    c.place?.netnsName ?? null, c.place?.containerId ?? null, c.place?.podUid ?? null,
    c.chunkId, c.chunkSyn ? 1 : 0, c.chunkFin ? 1 : 0, encodePackets(c.packets),
    c.txPackets, c.rxPackets, c.txBytes, c.rxBytes, c.txRetrans, c.rxRetrans,
    c.txSeqMin, c.txSeqMax, c.rxSeqMin, c.rxSeqMax, c.rttUs, c.handshakeUs, c.closeUs, c.connTraceId, c.innerTraceId,
  ];
}

export function tlsRow(ev: TlsHelloEvent, iso: IsoTimeFormatter): Row {
  const r = toTlsRecord(ev, iso) as unknown as Record<string, unknown>;
  return [Math.trunc(ev.tsUs), ...recordColumns('tls').map((f) => sqlValue(f, r[f]))];
}

export function netnsRow(info: NetnsInfo, tsUs: number, iso: IsoTimeFormatter): Row {
  const r = toNetnsRecord(info, tsUs, iso) as unknown as Record<string, unknown>;
  return [Math.trunc(tsUs), ...recordColumns('netns').map((f) => sqlValue(f, r[f]))];
}

/** The columns a row of table t is inserted into: TABLE_COLUMNS[t], but L7_STORED_COLUMNS for l7 (version 2). */
export const insertColumns = (t: StoreTable): readonly string[] => (t === 'l7' ? L7_STORED_COLUMNS : TABLE_COLUMNS[t]);

/** `INSERT INTO t (cols) VALUES (?, …), …` of `rows` rows (default 1) in the stored layout (insertColumns). */
export function insertSql(t: StoreTable, rows = 1): string {
  const cols = insertColumns(t);
  const one = `(${cols.map(() => '?').join(', ')})`;
  return `INSERT INTO ${dataTable(t)} (${cols.join(', ')}) VALUES ${Array(rows).fill(one).join(', ')}`;
}
