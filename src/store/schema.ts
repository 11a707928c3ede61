/**
 * The embedded store's schema (docs/store.md), version 1: tables `l7`, `l4`, `tls`, `netns` (one column per field of
 * the records of docs/schema.md, same names), `store_stats` (rows written, dropped, removed by retention, per table)
 * and `meta` (the schema version). `migrate(db)` creates it or upgrades an older one; a newer one is refused.
 *
 * Also the L4 packet BLOB (encodePackets / decodePackets) and the row builders shared by the writer and the tests.
 */
import type { Database } from 'better-sqlite3';
import type { HttpTransaction, L4Chunk, L4Packet, TlsHelloEvent, TraceTransaction } from '../records.js';
import { toTraceRecord } from '../sinks/trace-jsonl.js';
import {
  HTTP_RECORD_FIELDS, hopsJson, l7TraceId, latency, statusOf, toHttpRecord, toTlsRecord, TLS_RECORD_FIELDS, transactionAnomalies, transactionTsUs,
} from '../sinks/schema.js';
import { L4_RECORD_FIELDS, l4Direction } from '../sinks/l4-jsonl.js';
import { IsoTimeFormatter } from '../sinks/local-time.js';
import type { NetnsInfo } from '../source/attribution.js';
import { NETNS_RECORD_FIELDS, toNetnsRecord } from '../sinks/netns-jsonl.js';

export const SCHEMA_VERSION = 1;

export type StoreTable = 'l7' | 'l4' | 'tls' | 'netns';
export const STORE_TABLES: readonly StoreTable[] = ['l7', 'l4', 'tls', 'netns'];

export class StoreSchemaError extends Error {
  readonly code = 'WL_ERR_STORE_SCHEMA';
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

function createTable(t: StoreTable): string {
  const cols = TABLE_COLUMNS[t].map((c) => `  ${c} ${c === 'ts_us' ? 'INTEGER NOT NULL' : c === 'res_ts_us' ? 'INTEGER' : sqlType(c)}`);
  return `CREATE TABLE ${t} (\n  id INTEGER PRIMARY KEY,\n${cols.join(',\n')}\n)`;
}

const INDEXES: string[] = [
  'CREATE INDEX l7_ts ON l7(ts_us)',
  'CREATE INDEX l7_trace ON l7(l7_trace_id)',
  'CREATE INDEX l7_conn_trace ON l7(conn_trace_id)',
  'CREATE INDEX l7_dst ON l7(dst_ip, dst_port)',
  'CREATE INDEX l7_status ON l7(status)',
  'CREATE INDEX l7_host ON l7(host)',
  'CREATE INDEX l7_uri ON l7(uri)',
  'CREATE INDEX l4_ts ON l4(ts_us)',
  'CREATE INDEX l4_conn_trace ON l4(conn_trace_id)',
  'CREATE INDEX l4_server ON l4(server_ip, server_port)',
  'CREATE INDEX l4_inner ON l4(inner_trace_id)',
  'CREATE INDEX tls_ts ON tls(ts_us)',
  'CREATE INDEX tls_conn_trace ON tls(conn_trace_id)',
  'CREATE INDEX netns_ts ON netns(ts_us)',
  'CREATE INDEX netns_inode ON netns(netns)',
];

/** The whole version-1 schema, as SQL statements. */
export function schemaStatements(): string[] {
  return [
    'CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)',
    ...STORE_TABLES.map(createTable),
    'CREATE TABLE store_stats (tbl TEXT PRIMARY KEY, written INTEGER NOT NULL DEFAULT 0, dropped INTEGER NOT NULL DEFAULT 0, removed INTEGER NOT NULL DEFAULT 0)',
    ...STORE_TABLES.map((t) => `INSERT INTO store_stats (tbl) VALUES ('${t}')`),
    ...INDEXES,
    `INSERT INTO meta (key, value) VALUES ('schema_version', '${SCHEMA_VERSION}')`,
  ];
}

/** The schema version of a database: 0 when it has no wirelog schema (empty). */
export function schemaVersion(db: Database): number {
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
  if (hasMeta === undefined) return 0;
  const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
  return row === undefined ? 0 : Number(row.value);
}

/**
 * Upgrades from version N to N+1 (index N-1). Version 1 is the first: none yet. A future version appends its step
 * here; migrate() runs the missing ones in one transaction.
 */
const MIGRATIONS: Array<(db: Database) => void> = [];

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

/** `INSERT INTO t (cols) VALUES (?, …)` */
export function insertSql(t: StoreTable): string {
  const cols = TABLE_COLUMNS[t];
  return `INSERT INTO ${t} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`;
}
