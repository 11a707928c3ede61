/**
 * The HTTP/2 adapter: an Http2Parser per direction (paired: each reads the SETTINGS the other sends), a stream's
 * request, response and trailers as they come, its transaction when it ends. Without the preface the parsers run
 * mid-stream: header names HPACK cannot know are kept as `:missing-N`, never invented.
 */
import type { Incomplete, TraceRequest } from '../../records.js';
import { Http2Parser, pairHttp2Parsers, type Http2Handler, type Http2Headers } from '../../proto/http2.js';
import { h2HeaderList as h2Headers } from '../h2-common.js';
import { emitTransaction, type Conn, type H2Stream, type TraceOutput } from './conn.js';

/** Makes the connection HTTP/2: its two parsers, whose handlers write requests, responses and transactions. */
export function makeH2(out: TraceOutput, c: Conn, midStream: boolean): void {
  c.proto = 'h2';
  c.info.protocol = 'HTTP/2.0';
  const stream = (id: number): H2Stream => {
    let s = c.h2Streams.get(id);
    if (s === undefined) {
      s = { interim: [], reqBodyBytes: 0, resBodyBytes: 0, done: false };
      c.h2Streams.set(id, s);
    }
    return s;
  };
  const common = {
    onRst: () => {},
    onGoaway: () => {},
    onError: () => { out.stats.parseErrors++; },
  };
  const clientH: Http2Handler = {
    ...common,
    onHeaders: (h) => {
      if (h.kind === 'trailers') {
        const s = c.h2Streams.get(h.streamId);
        if (s?.req === undefined) return;
        s.req.trailers = h2Headers(h);
        out.sink.trailers?.({ conn: c.info, reqId: h.streamId, request: true, req: s.req, trailers: s.req.trailers });
        return;
      }
      if (h.kind !== 'request') return;
      const s = stream(h.streamId);
      s.req = h2Request(h);
      out.stats.requests++;
      out.sink.request({ conn: c.info, reqId: h.streamId, req: s.req });
    },
    onData: (id, n) => {
      const s = c.h2Streams.get(id);
      if (s !== undefined) s.reqBodyBytes += n;
    },
  };
  const serverH: Http2Handler = {
    ...common,
    onHeaders: (h) => {
      if (h.kind === 'push') return;
      if (h.kind === 'trailers') {
        const s = c.h2Streams.get(h.streamId);
        if (s?.res === undefined) return;
        s.res.trailers = h2Headers(h);
        out.sink.trailers?.({ conn: c.info, reqId: h.streamId, request: false, req: s.req, res: s.res, trailers: s.res.trailers });
        return;
      }
      const s = stream(h.streamId);
      s.firstResTs ??= h.tsUs;
      if (h.kind === 'informational') {
        if (h.status !== undefined) s.interim.push(h.status);
        return;
      }
      s.res = {
        tsUs: h.tsUs, protocol: 'HTTP/2.0', streamId: h.streamId, status: h.status, reason: '',
        headers: h2Headers(h),
      };
      for (const [n, v] of s.res.headers) {
        if (n === 'content-length') s.res.contentLength = Number(v);
        else if (n === 'content-type') s.res.contentType = v;
      }
      out.stats.responses++;
      out.sink.response({ conn: c.info, reqId: h.streamId, req: s.req, res: s.res });
    },
    onData: (id, n) => {
      const s = c.h2Streams.get(id);
      if (s !== undefined) s.resBodyBytes += n;
    },
    onStreamEnd: (st) => {
      const s = c.h2Streams.get(st.streamId);
      if (s === undefined || s.res === undefined) return;
      h2Emit(out, c, st.streamId, s, st.end === 'end-stream' ? undefined : st.end);
    },
  };
  c.c2s = new Http2Parser(clientH, { side: 'client', preface: !midStream, midStream });
  c.s2c = new Http2Parser(serverH, { side: 'server', midStream });
  pairHttp2Parsers(c.c2s, c.s2c);
}

/** Feeds a chunk to the parser of its direction. */
export function pushH2(out: TraceOutput, c: Conn, fromClient: boolean, buf: Buffer, tsUs: number, cut: number): void {
  const p = fromClient ? c.c2s! : c.s2c!;
  if (p.dead) {
    out.stats.unparsedBytes += buf.length;
    return;
  }
  p.push(buf, tsUs);
  if (cut > 0) {
    out.stats.truncatedBytes += cut;
    p.gap(cut);
  }
}

/** The connection is over: every stream still open is written as incomplete. */
export function finishH2(out: TraceOutput, c: Conn): void {
  for (const [id, s] of [...c.h2Streams]) {
    if (s.req === undefined && s.res === undefined) continue;
    h2Emit(out, c, id, s, s.res === undefined ? 'no-response' : 'partial-body');
  }
}

function h2Emit(out: TraceOutput, c: Conn, id: number, s: H2Stream, incomplete: Incomplete | undefined): void {
  if (s.done) return;
  s.done = true;
  c.h2Streams.delete(id);
  // a stream that ends without its response is incomplete (an HTTP/1 exchange ends only with one)
  emitTransaction(out, c, id, s, incomplete ?? (s.req !== undefined && s.res === undefined ? 'no-response' : undefined));
}

function h2Request(h: Http2Headers): TraceRequest {
  // :protocol (extended CONNECT) is a pseudo-header h2olog has no line for: kept with the others
  const headers = h2Headers(h);
  if (h.protocol !== undefined) headers.unshift([':protocol', h.protocol]);
  const r: TraceRequest = {
    tsUs: h.tsUs, protocol: 'HTTP/2.0', streamId: h.streamId, method: h.method, path: h.path,
    authority: h.authority, scheme: h.scheme, headers,
  };
  for (const [n, v] of headers) {
    if (n === 'user-agent') r.userAgent = v;
    else if (n === 'content-length') r.contentLength = Number(v);
    else if (n === 'content-type') r.contentType = v;
  }
  if (r.authority === undefined) {
    // HTTP/2 may carry Host instead of :authority (RFC 9113 8.3.1)
    const host = headers.find(([n]) => n === 'host');
    if (host !== undefined) r.authority = host[1];
  }
  return r;
}
