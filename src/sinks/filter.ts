/**
 * `wirelog trace --filter`: the parsed expression, and a sink in front of the h2olog or JSON lines sink that passes on
 * only the requests, responses, trailers and transactions it accepts.
 */
import type { TraceConnInfo, TraceRequest, TraceRequestEvent, TraceSink, TraceTrailersEvent } from '../records.js';

/** `--filter method=GET,host=example.com,path=/api,status=2xx|404`: every term must match; `|` separates choices. */
export interface TraceFilter {
  method?: string[];
  host?: string[];
  /** prefixes */
  path?: string[];
  /** exact codes, or a class digit (2xx → 2) stored as -2 */
  status?: number[];
}

export class TraceFilterError extends Error {
  readonly code = 'WL_ERR_TRACE_FILTER';
}

export function parseTraceFilter(expr: string): TraceFilter {
  const f: TraceFilter = {};
  for (const term of expr.split(',')) {
    if (term.trim() === '') continue;
    const eq = term.indexOf('=');
    if (eq <= 0) throw new TraceFilterError(`bad filter term '${term}': expected KEY=VALUE`);
    const key = term.slice(0, eq).trim().toLowerCase();
    const alts = term.slice(eq + 1).split('|').map((v) => v.trim());
    if (alts.some((v) => v === '')) throw new TraceFilterError(`bad filter term '${term}': empty value`);
    switch (key) {
      case 'method':
        f.method = alts.map((v) => v.toUpperCase());
        break;
      case 'host':
        f.host = alts.map((v) => v.toLowerCase());
        break;
      case 'path':
        f.path = alts;
        break;
      case 'status':
        f.status = alts.map((v) => {
          const m = /^([1-5])xx$/i.exec(v);
          if (m !== null) return -Number(m[1]);
          if (!/^[1-9][0-9]{2}$/.test(v)) throw new TraceFilterError(`bad status '${v}' in filter: a code (404) or a class (2xx)`);
          return Number(v);
        });
        break;
      default:
        throw new TraceFilterError(`unknown filter key '${key}': method, host, path or status`);
    }
  }
  return f;
}

/** Do the request terms (method, host, path) accept this request? */
export function filterAcceptsRequest(f: TraceFilter, req: TraceRequest | undefined): boolean {
  if (f.method === undefined && f.host === undefined && f.path === undefined) return true;
  if (req === undefined) return false;
  if (f.method !== undefined && !f.method.includes((req.method ?? '').toUpperCase())) return false;
  if (f.host !== undefined) {
    let h = (req.authority ?? '').toLowerCase();
    // host=example.com matches example.com:8080 too
    const colon = h.lastIndexOf(':');
    if (colon > 0 && h.indexOf(']') < colon && /^[0-9]+$/.test(h.slice(colon + 1))) h = h.slice(0, colon);
    if (!f.host.includes(h) && !f.host.includes((req.authority ?? '').toLowerCase())) return false;
  }
  if (f.path !== undefined && !f.path.some((p) => (req.path ?? '').startsWith(p))) return false;
  return true;
}

export function filterAcceptsStatus(f: TraceFilter, status: number | undefined): boolean {
  if (f.status === undefined) return true;
  if (status === undefined) return false;
  return f.status.some((s) => (s < 0 ? Math.floor(status / 100) === -s : s === status));
}

/**
 * A sink that passes on only what the filter accepts. With a status term, a request's lines wait for its
 * response's status (a request with no response is not shown).
 */
export function filterTraceSink(f: TraceFilter, sink: TraceSink): TraceSink {
  const needStatus = f.status !== undefined;
  const held = new Map<TraceConnInfo, Map<number, TraceRequestEvent>>();
  /** request trailers of held requests, printed after them */
  const heldTrailers = new Map<TraceRequestEvent, TraceTrailersEvent>();
  return {
    request(ev) {
      if (!filterAcceptsRequest(f, ev.req)) return;
      if (!needStatus) {
        sink.request(ev);
        return;
      }
      let m = held.get(ev.conn);
      if (m === undefined) held.set(ev.conn, (m = new Map()));
      m.set(ev.reqId, ev);
    },
    response(ev) {
      if (!filterAcceptsRequest(f, ev.req) || !filterAcceptsStatus(f, ev.res.status)) {
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
      if (!filterAcceptsRequest(f, ev.req)) return;
      if (ev.request) {
        const r = held.get(ev.conn)?.get(ev.reqId);
        if (r !== undefined) heldTrailers.set(r, ev);
        else if (!needStatus) sink.trailers?.(ev);
        return;
      }
      if (filterAcceptsStatus(f, ev.res?.status)) sink.trailers?.(ev);
    },
    transaction(tx) {
      const m = held.get(tx.conn);
      if (m !== undefined) {
        const r = m.get(tx.reqId);
        if (r !== undefined) heldTrailers.delete(r);
        m.delete(tx.reqId);
        if (m.size === 0) held.delete(tx.conn);
      }
      if (filterAcceptsRequest(f, tx.req) && filterAcceptsStatus(f, tx.res?.status)) sink.transaction(tx);
    },
  };
}
