/**
 * `wirelog trace --format jsonl`: one JSON object per request/response transaction: the docs/schema.md fields in
 * their order (with pid and comm filled in: the traced process is known), then `tls`, `protocol`, `role`,
 * `stream_id`, `req_headers`, `res_headers`, `req_trailers` and `res_trailers` (arrays of [name, value] after the
 * --headers mode).
 */
import type { LineSink } from './log-writer.js';
import { IsoTimeFormatter } from './local-time.js';
import { applyHeaderMode, type HeaderMode } from './redact.js';
import { anomalyNames, type HeaderList, type TraceRequestEvent, type TraceResponseEvent, type TraceSink, type TraceTransaction } from '../records.js';
import { connectionFields, type HttpRecord } from './schema.js';

/** The docs/schema.md record (src/sinks/schema.ts), then the trace-only fields. */
export interface TraceRecord extends HttpRecord {
  tls: boolean;
  protocol: 'HTTP/1.1' | 'HTTP/2.0';
  role: 'server' | 'client';
  stream_id: number | null;
  req_headers: HeaderList;
  res_headers: HeaderList;
  /** trailer fields (HTTP/2 trailing HEADERS, HTTP/1 chunked trailers), after --headers; [] when none */
  req_trailers: HeaderList;
  res_trailers: HeaderList;
}

const n = <T>(v: T | undefined): T | null => (v === undefined || (typeof v === 'number' && !Number.isFinite(v)) ? null : v);

export function toTraceRecord(tx: TraceTransaction, mode: HeaderMode = 'redacted', iso: IsoTimeFormatter = new IsoTimeFormatter()): TraceRecord {
  const { conn, req, res } = tx;
  const ts = req?.tsUs ?? res?.tsUs ?? 0;
  const h2 = conn.protocol === 'HTTP/2.0';
  return {
    ts: iso.format(ts),
    kind: conn.role === 'server' ? 'CQ' : 'SQ',
    ...connectionFields(conn, tx.reqId),
    method: n(req?.method),
    uri: n(req?.path),
    version: n(req?.protocol),
    host: n(req?.authority),
    user_agent: n(req?.userAgent),
    status: n(res?.status),
    reason: n(res?.reason),
    content_length: n(res?.contentLength),
    content_type: n(res?.contentType),
    latency_ms: n(tx.latencyMs),
    ifname: null,
    netns: null,
    pid: conn.pid,
    comm: conn.comm,
    res_ts: res !== undefined ? iso.format(res.tsUs) : null,
    res_version: n(res?.protocol),
    req_content_length: n(req?.contentLength),
    req_content_type: n(req?.contentType),
    req_body_bytes: tx.reqBodyBytes,
    res_body_bytes: tx.resBodyBytes,
    interim: tx.interim,
    gap_bytes: 0,
    incomplete: n(tx.incomplete),
    anomalies: anomalyNames(res?.anomalies ?? 0, anomalyNames(req?.anomalies ?? 0)),
    // process tracing sees the socket's bytes, not TCP's sequence numbers
    req_seq: null,
    resp_seq: null,
    l7_trace_id: null,
    conn_trace_id: null,
    netns_name: null,
    container_id: null,
    pod_uid: null,
    hops: null,
    record: 'l7',
    tls: conn.tls,
    protocol: h2 ? 'HTTP/2.0' : 'HTTP/1.1',
    role: conn.role,
    stream_id: h2 ? tx.reqId : null,
    req_headers: req !== undefined ? applyHeaderMode(mode, req.headers) : [],
    res_headers: res !== undefined ? applyHeaderMode(mode, res.headers) : [],
    req_trailers: req?.trailers !== undefined ? applyHeaderMode(mode, req.trailers) : [],
    res_trailers: res?.trailers !== undefined ? applyHeaderMode(mode, res.trailers) : [],
  };
}

export class TraceJsonlSink implements TraceSink {
  private readonly iso = new IsoTimeFormatter();
  constructor(
    private readonly out: LineSink,
    private readonly mode: HeaderMode = 'redacted',
  ) {}

  request(_ev: TraceRequestEvent): void {}
  response(_ev: TraceResponseEvent): void {}

  transaction(tx: TraceTransaction): void {
    const line = JSON.stringify(toTraceRecord(tx, this.mode, this.iso));
    this.out.write(line, tx.req?.tsUs ?? tx.res?.tsUs ?? 0, tx.conn.role === 'server' ? 'CQ' : 'SQ');
  }
}
