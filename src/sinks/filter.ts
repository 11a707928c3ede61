/**
 * `wirelog trace --filter`: the parsed expression (src/query/), and a sink in front of the h2olog or JSON lines sink that passes on
 * only the requests, responses, trailers and transactions it accepts.
 */
import type { TraceConnInfo, TraceRequest, TraceRequestEvent, TraceResponse, TraceSink, TraceTrailersEvent, TraceTransaction } from '../records.js';
import { compilePredicate, parseFilter, QueryError, type QueryAst, type RecordPredicate } from '../query/index.js';
import { toTraceRecord } from './trace-jsonl.js';
import { IsoTimeFormatter } from './local-time.js';
import { WirelogError } from '../errors.js';

/**
 * `--filter EXPR`: an expression of the filter language (docs/query.md), or the first form
 * `method=GET,host=example.com,path=/api,status=2xx|404` (every term must match; `|` separates choices; `path=` a
 * prefix), which is translated to it.
 */
export interface TraceFilter {
  expr: string;
  ast: QueryAst;
  accepts: RecordPredicate;
  /** the expression names a response field (status, ...): a request's lines wait for its response */
  needResponse: boolean;
}

export class TraceFilterError extends WirelogError {
  constructor(message: string, readonly column?: number) {
    super('WL_ERR_TRACE_FILTER', message);
  }
}

/** Fields known once the response head is (the others of the request head, or of the connection). */
const RESPONSE_FIELDS = new Set(['status', 'reason', 'content_length', 'content_type', 'res_ts', 'res_version']);
/** Fields known only when the transaction ends: not filterable in trace, whose lines are printed as they come. */
const TRANSACTION_FIELDS = new Set(['latency_ms', 'req_body_bytes', 'res_body_bytes', 'interim', 'gap_bytes', 'incomplete', 'anomalies']);

function fieldsOf(a: QueryAst, out: Array<{ field: string; col: number }>): void {
  switch (a.k) {
    case 'all':
      return;
    case 'and':
    case 'or':
      fieldsOf(a.a, out);
      fieldsOf(a.b, out);
      return;
    case 'not':
      fieldsOf(a.a, out);
      return;
    default:
      out.push({ field: a.field, col: a.col });
  }
}

export function parseTraceFilter(expr: string): TraceFilter {
  let ast: QueryAst;
  try {
    ast = parseFilter(expr);
  } catch (err) {
    if (err instanceof QueryError) throw new TraceFilterError(`${err.message} (column ${err.column} of '${expr}')`, err.column);
    throw err;
  }
  const fields: Array<{ field: string; col: number }> = [];
  fieldsOf(ast, fields);
  for (const { field, col } of fields) {
    if (TRANSACTION_FIELDS.has(field)) {
      throw new TraceFilterError(`'${field}' is only known when the transaction ends; trace --filter takes request and response fields (column ${col} of '${expr}')`, col);
    }
  }
  return { expr, ast, accepts: compilePredicate(ast), needResponse: fields.some((f) => RESPONSE_FIELDS.has(f.field)) };
}

const iso = new IsoTimeFormatter();

/** The docs/schema.md record of what is known of a request so far (no headers: none are fields). */
function recordOf(conn: TraceConnInfo, reqId: number, req: TraceRequest | undefined, res: TraceResponse | undefined): Record<string, unknown> {
  return toTraceRecord({ conn, reqId, req, res, interim: [], reqBodyBytes: 0, resBodyBytes: 0 }, 'none', iso) as unknown as Record<string, unknown>;
}

/** Does the filter accept this request, as far as its request fields go? (true when it waits for the response) */
export function filterAcceptsRequest(f: TraceFilter, conn: TraceConnInfo, reqId: number, req: TraceRequest | undefined): boolean {
  return f.needResponse || f.accepts(recordOf(conn, reqId, req, undefined));
}

/** Does the filter accept this request and response? */
export function filterAcceptsResponse(f: TraceFilter, conn: TraceConnInfo, reqId: number, req: TraceRequest | undefined, res: TraceResponse | undefined): boolean {
  return f.accepts(recordOf(conn, reqId, req, res));
}

function filterAcceptsTransaction(f: TraceFilter, tx: TraceTransaction): boolean {
  return f.accepts(toTraceRecord(tx, 'none', iso) as unknown as Record<string, unknown>);
}

/**
 * A sink that passes on only what the filter accepts. With a status term, a request's lines wait for its
 * response's status (a request with no response is not shown).
 */
export function filterTraceSink(f: TraceFilter, sink: TraceSink): TraceSink {
  const needStatus = f.needResponse;
  const held = new Map<TraceConnInfo, Map<number, TraceRequestEvent>>();
  /** request trailers of held requests, printed after them */
  const heldTrailers = new Map<TraceRequestEvent, TraceTrailersEvent>();
  return {
    request(ev) {
      if (!filterAcceptsRequest(f, ev.conn, ev.reqId, ev.req)) return;
      if (!needStatus) {
        sink.request(ev);
        return;
      }
      let m = held.get(ev.conn);
      if (m === undefined) held.set(ev.conn, (m = new Map()));
      m.set(ev.reqId, ev);
    },
    response(ev) {
      if (!filterAcceptsResponse(f, ev.conn, ev.reqId, ev.req, ev.res)) {
        held.get(ev.conn)?.delete(ev.reqId);
        return;
      }
      const m = held.get(ev.conn);
      const r = m?.get(ev.reqId);
      if (r !== undefined) {
        m!.delete(ev.reqId);
        if (m!.size === 0) held.delete(ev.conn);
        sink.request(r);
        const tr = heldTrailers.get(r);
        if (tr !== undefined) {
          heldTrailers.delete(r);
          sink.trailers?.(tr);
        }
      }
      sink.response(ev);
    },
    trailers(ev) {
      if (ev.request) {
        if (!filterAcceptsRequest(f, ev.conn, ev.reqId, ev.req)) return;
        const r = held.get(ev.conn)?.get(ev.reqId);
        if (r !== undefined) heldTrailers.set(r, ev);
        else if (!needStatus) sink.trailers?.(ev);
        return;
      }
      if (filterAcceptsResponse(f, ev.conn, ev.reqId, ev.req, ev.res)) sink.trailers?.(ev);
    },
    transaction(tx) {
      const m = held.get(tx.conn);
      if (m !== undefined) {
        const r = m.get(tx.reqId);
        if (r !== undefined) heldTrailers.delete(r);
        m.delete(tx.reqId);
        if (m.size === 0) held.delete(tx.conn);
      }
      if (filterAcceptsTransaction(f, tx)) sink.transaction(tx);
    },
  };
}
