/**
 * The L7 HTTP record of docs/schema.md: one object per request/response transaction, shared by the JSON lines
 * sink, the store and the explorer. Every field is always present; null when unknown. Field order is fixed.
 */
import { anomalyNames, type HttpTransaction, type Incomplete, type TlsHelloEvent } from '../records.js';
import { tlsVersionName } from '../proto/tls.js';
import { IsoTimeFormatter } from './local-time.js';

export interface HttpRecord {
  ts: string;
  kind: 'CQ' | 'SQ';
  conn_id: number;
  req_id: number;
  src_ip: string;
  src_port: number;
  dst_ip: string;
  dst_port: number;
  method: string | null;
  uri: string | null;
  version: string | null;
  host: string | null;
  user_agent: string | null;
  status: number | null;
  reason: string | null;
  content_length: number | null;
  content_type: string | null;
  latency_ms: number | null;
  ifname: string | null;
  netns: number | null;
  pid: number | null;
  comm: string | null;
  res_ts: string | null;
  res_version: string | null;
  req_content_length: number | null;
  req_content_type: string | null;
  req_body_bytes: number;
  res_body_bytes: number;
  interim: number[];
  gap_bytes: number;
  incomplete: Incomplete | null;
  anomalies: string[];
  req_seq: number | null;
  resp_seq: number | null;
  l7_trace_id: string | null;
  conn_trace_id: string | null;
  netns_name: string | null;
  container_id: string | null;
  pod_uid: string | null;
  hops: HopRecord[] | null;
  record: 'l7';
}

/** One entry of `hops` (docs/schema.md): a device the exchange crossed, in path order. */
export interface HopRecord {
  ifname: string | null;
  ifindex: number;
  netns: number | null;
  netns_name: string | null;
  req_ts: string | null;
  resp_ts: string | null;
}

/** The documented field order (docs/schema.md). */
export const HTTP_RECORD_FIELDS: ReadonlyArray<keyof HttpRecord> = [
  'ts', 'kind', 'conn_id', 'req_id', 'src_ip', 'src_port', 'dst_ip', 'dst_port',
  'method', 'uri', 'version', 'host', 'user_agent', 'status', 'reason', 'content_length', 'content_type',
  'latency_ms', 'ifname', 'netns', 'pid', 'comm',
  'res_ts', 'res_version', 'req_content_length', 'req_content_type', 'req_body_bytes', 'res_body_bytes',
  'interim', 'gap_bytes', 'incomplete', 'anomalies', 'req_seq', 'resp_seq', 'l7_trace_id', 'conn_trace_id',
  'netns_name', 'container_id', 'pod_uid', 'hops', 'record',
];

/**
 * `<req_seq>_<resp_seq>`: the TCP sequence numbers of the request's and the response's first bytes, equal on every
 * device the exchange crosses (Guance's l7_traceid); null unless both are known.
 */
export function l7TraceId(tx: HttpTransaction): string | null {
  const q = tx.req?.seq, r = tx.res?.seq;
  return q === undefined || r === undefined ? null : `${q}_${r}`;
}

/**
 * The anomaly names of a transaction (docs/http1.md): its request's, then its response's, then those of a message
 * that was skipped in its place, each once.
 */
export function transactionAnomalies(tx: HttpTransaction): string[] {
  const out: string[] = [];
  const q = tx.req?.anomalies ?? 0, r = tx.res?.anomalies ?? 0, t = tx.anomalies ?? 0;
  if ((q | r | t) === 0) return out;
  anomalyNames(q, out);
  anomalyNames(r, out);
  anomalyNames(t, out);
  return out;
}

/** A status, null for an answer without a status line (HTTP/0.9). */
export const statusOf = (tx: HttpTransaction): number | null => (tx.res === undefined || tx.res.status === 0 ? null : tx.res.status);

/** The time a transaction is filed under: its request's first byte, else its response's (µs). */
export function transactionTsUs(tx: HttpTransaction): number {
  return tx.req?.tsUs ?? tx.res?.tsUs ?? tx.interim[0]?.tsUs ?? 0;
}

/** What a record's connection fields are made of: HttpTransaction's conn and the trace tracker's conn alike. */
export interface ConnectionEndpoints {
  connId: number;
  clientIp: string;
  clientPort: number;
  serverIp: string;
  serverPort: number;
}

/** conn_id .. dst_port of a record, in the documented order (spread them in after `kind`). */
export function connectionFields(
  conn: ConnectionEndpoints,
  reqId: number,
): Pick<HttpRecord, 'conn_id' | 'req_id' | 'src_ip' | 'src_port' | 'dst_ip' | 'dst_port'> {
  return {
    conn_id: conn.connId,
    req_id: reqId,
    src_ip: conn.clientIp,
    src_port: conn.clientPort,
    dst_ip: conn.serverIp,
    dst_port: conn.serverPort,
  };
}

export function latency(tx: HttpTransaction): number | null {
  if (tx.latencyMs !== undefined) return tx.latencyMs;
  const first = tx.interim[0] ?? tx.res;
  if (tx.req !== undefined && first !== undefined) return (first.tsUs - tx.req.tsUs) / 1000;
  return null;
}

/** A transaction as a plain object (for the store and library users). */
export function toHttpRecord(tx: HttpTransaction, iso: IsoTimeFormatter = new IsoTimeFormatter()): HttpRecord {
  const { conn, req, res } = tx;
  return {
    ts: iso.format(transactionTsUs(tx)),
    kind: conn.kind,
    ...connectionFields(conn, tx.reqId),
    method: req?.method ?? null,
    uri: req?.uri ?? null,
    version: req?.version ?? null,
    host: req?.host ?? null,
    user_agent: req?.userAgent ?? null,
    status: statusOf(tx),
    reason: res === undefined || res.status === 0 ? null : res.reason,
    content_length: res?.contentLength ?? null,
    content_type: res?.contentType ?? null,
    latency_ms: latency(tx),
    ifname: conn.ifname ?? null,
    netns: conn.netns ?? null,
    pid: null, // process attribution is not in HttpTransaction yet (see report); kept so the schema is stable
    comm: null,
    res_ts: res !== undefined ? iso.format(res.tsUs) : null,
    res_version: res?.version ?? null,
    req_content_length: req?.contentLength ?? null,
    req_content_type: req?.contentType ?? null,
    req_body_bytes: tx.reqBodyBytes,
    res_body_bytes: tx.resBodyBytes,
    interim: tx.interim.map((h) => h.status),
    gap_bytes: tx.gapBytes,
    incomplete: tx.incomplete ?? null,
    anomalies: transactionAnomalies(tx),
    req_seq: req?.seq ?? null,
    resp_seq: res?.seq ?? null,
    l7_trace_id: l7TraceId(tx),
    conn_trace_id: conn.connTraceId ?? null,
    netns_name: conn.place?.netnsName ?? null,
    container_id: conn.place?.containerId ?? null,
    pod_uid: conn.place?.podUid ?? null,
    hops: tx.hops === undefined ? null : tx.hops.map((h) => ({
      ifname: h.ifname ?? null,
      ifindex: h.ifindex,
      netns: h.netns ?? null,
      netns_name: h.netnsName ?? null,
      req_ts: h.reqTsUs === null ? null : iso.format(h.reqTsUs),
      resp_ts: h.respTsUs === null ? null : iso.format(h.respTsUs),
    })),
    record: 'l7',
  };
}

/**
 * JSON text of a string: JSON.stringify's own output, skipped when nothing needs escaping (no quote, backslash,
 * control character or surrogate): most fields are plain ASCII and the check costs half the call.
 */
export function str(s: string | undefined): string {
  if (s === undefined) return 'null';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return '"' + s + '"';
}
export const num = (n: number | undefined | null): string =>
  n === undefined || n === null || !Number.isFinite(n) ? 'null' : String(n);

/**
 * One JSON line (no newline) for a transaction, built field by field in the documented order: the same result as
 * JSON.stringify(toHttpRecord(tx)) without building the object.
 */
export function serializeTransaction(tx: HttpTransaction, iso: IsoTimeFormatter): string {
  const { conn, req, res } = tx;
  let anomalies = '[';
  const names = transactionAnomalies(tx);
  for (let i = 0; i < names.length; i++) anomalies += (i > 0 ? ',"' : '"') + names[i] + '"';
  anomalies += ']';
  let interim = '[';
  for (let i = 0; i < tx.interim.length; i++) interim += (i > 0 ? ',' : '') + tx.interim[i].status;
  interim += ']';
  return (
    `{"ts":"${iso.format(transactionTsUs(tx))}","kind":"${conn.kind}","conn_id":${num(conn.connId)},"req_id":${num(tx.reqId)}` +
    `,"src_ip":${str(conn.clientIp)},"src_port":${num(conn.clientPort)},"dst_ip":${str(conn.serverIp)},"dst_port":${num(conn.serverPort)}` +
    `,"method":${str(req?.method)},"uri":${str(req?.uri ?? undefined)},"version":${str(req?.version)},"host":${str(req?.host)}` +
    `,"user_agent":${str(req?.userAgent)},"status":${num(statusOf(tx))},"reason":${res === undefined || res.status === 0 ? 'null' : str(res.reason)}` +
    `,"content_length":${num(res?.contentLength)},"content_type":${str(res?.contentType)},"latency_ms":${num(latency(tx))}` +
    `,"ifname":${str(conn.ifname)},"netns":${num(conn.netns)},"pid":null,"comm":null` +
    `,"res_ts":${res !== undefined ? `"${iso.format(res.tsUs)}"` : 'null'},"res_version":${str(res?.version)}` +
    `,"req_content_length":${num(req?.contentLength)},"req_content_type":${str(req?.contentType)}` +
    `,"req_body_bytes":${num(tx.reqBodyBytes)},"res_body_bytes":${num(tx.resBodyBytes)},"interim":${interim}` +
    `,"gap_bytes":${num(tx.gapBytes)},"incomplete":${str(tx.incomplete)},"anomalies":${anomalies}` +
    `,"req_seq":${num(req?.seq)},"resp_seq":${num(res?.seq)},"l7_trace_id":${str(l7TraceId(tx) ?? undefined)}` +
    `,"conn_trace_id":${str(conn.connTraceId)},"netns_name":${str(conn.place?.netnsName ?? undefined)}` +
    `,"container_id":${str(conn.place?.containerId ?? undefined)},"pod_uid":${str(conn.place?.podUid ?? undefined)}` +
    `,"hops":${hopsJson(tx.hops, iso)},"record":"l7"}`
  );
}

export function hopsJson(hops: HttpTransaction['hops'], iso: IsoTimeFormatter): string {
  if (hops === undefined) return 'null';
  let out = '[';
  for (let i = 0; i < hops.length; i++) {
    const h = hops[i]!;
    out += (i > 0 ? ',' : '') + `{"ifname":${str(h.ifname)},"ifindex":${num(h.ifindex)},"netns":${num(h.netns)}` +
      `,"netns_name":${str(h.netnsName ?? undefined)}` +
      `,"req_ts":${h.reqTsUs === null ? 'null' : `"${iso.format(h.reqTsUs)}"`}` +
      `,"resp_ts":${h.respTsUs === null ? 'null' : `"${iso.format(h.respTsUs)}"`}}`;
  }
  return out + ']';
}

/** The TLS record of docs/schema.md ("TLS records"): one per connection whose client sent a ClientHello. */
export interface TlsRecord {
  record: 'tls';
  ts: string;
  kind: 'CQ' | 'SQ';
  conn_id: number;
  src_ip: string;
  src_port: number;
  dst_ip: string;
  dst_port: number;
  sni: string | null;
  alpn: string[];
  tls_version: string;
  cipher_suites: number;
  ifname: string | null;
  netns: number | null;
  conn_trace_id: string | null;
}

export const TLS_RECORD_FIELDS: ReadonlyArray<keyof TlsRecord> = [
  'record', 'ts', 'kind', 'conn_id', 'src_ip', 'src_port', 'dst_ip', 'dst_port', 'sni', 'alpn', 'tls_version',
  'cipher_suites', 'ifname', 'netns', 'conn_trace_id',
];

export function toTlsRecord(ev: TlsHelloEvent, iso: IsoTimeFormatter = new IsoTimeFormatter()): TlsRecord {
  const c = ev.conn;
  return {
    record: 'tls',
    ts: iso.format(ev.tsUs),
    kind: c.kind,
    conn_id: c.connId,
    src_ip: c.clientIp,
    src_port: c.clientPort,
    dst_ip: c.serverIp,
    dst_port: c.serverPort,
    sni: ev.sni ?? null,
    alpn: ev.alpn.slice(),
    tls_version: tlsVersionName(ev.version),
    cipher_suites: ev.cipherSuites,
    ifname: c.ifname ?? null,
    netns: c.netns ?? null,
    conn_trace_id: c.connTraceId ?? null,
  };
}

/** One JSON line (no newline) for a TLS record: JSON.stringify(toTlsRecord(ev)) (not a hot path). */
export function serializeTls(ev: TlsHelloEvent, iso: IsoTimeFormatter): string {
  return JSON.stringify(toTlsRecord(ev, iso));
}
