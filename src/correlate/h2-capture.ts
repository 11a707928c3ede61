/**
 * Passive HTTP/2 for the capture tracker (http-tracker.ts): one connection's two reassembled byte streams, an
 * Http2Parser per direction (paired, so each reads the SETTINGS the other sends; their HPACK tables live as long as
 * the connection), and one HttpTransaction per stream, with the records of today's schema (docs/schema.md,
 * docs/http2.md "Passive capture").
 *
 * - A stream's request is its first client HEADERS block (or a server's PUSH_PROMISE for a pushed stream), its
 *   response the server's first non-1xx block; 1xx blocks are interim. Trailers are not logged (the record has no
 *   field for them). req_id is the stream id.
 * - `req_seq` / `resp_seq`: the TCP sequence number of the first byte of the HEADERS frame that opened the request
 *   / response block (for the h2c upgrade's stream 1: the HTTP/1.1 request line's first byte).
 * - A stream's record is written when the server ends it (END_STREAM or RST_STREAM), when the client resets it, or
 *   when the connection ends (incomplete: `no-response`, `partial-body`, `gap`, `reset`, `timeout`, `evicted`).
 * - A header block decoded while that direction's HPACK table was not known complete (a gap lost a header block,
 *   an HPACK error, or the framing was lost and found again) marks its record `hpack-unreliable`; names it could
 *   not resolve are `:missing-N` in the header list, never invented.
 */
import type {
  ConnInfo, HeaderList, HttpEventSink, HttpRequestHead, HttpResponseHead, HttpTransaction, Incomplete,
} from '../records.js';
import { HttpAnomaly } from '../records.js';
import {
  Http2Parser, pairHttp2Parsers, type Http2Error, type Http2Handler, type Http2Headers, type Http2StreamStats,
} from '../proto/http2.js';
import { h2HeaderList } from './h2-common.js';

export const H2_VERSION = 'HTTP/2.0';

/** What the capture tracker lends a connection's HTTP/2 adapter. */
export interface H2Host {
  readonly sink: HttpEventSink;
  readonly stats: H2Counters;
  /** the connection's info (numbers the connection on first use) */
  conn(): ConnInfo;
  /** TCP sequence number of a byte of the client's (true) or server's stream, by its stream offset */
  seqAt(client: boolean, streamOffset: number): number;
  /** bytes lost on the connection so far, both directions */
  gapTotal(): number;
}

/** The counters the adapter adds to (TrackerStats has them). */
export interface H2Counters {
  requests: number;
  responses: number;
  transactions: number;
  parseErrors: number;
  parseErrorsByCode: Record<string, number>;
  bytesSkipped: number;
  h2Streams: number;
  h2FramesSkipped: number;
  h2UnreliableBlocks: number;
}

interface Stream {
  id: number;
  req?: HttpRequestHead;
  res?: HttpResponseHead;
  interim: HttpResponseHead[];
  reqBodyBytes: number;
  resBodyBytes: number;
  gapAt: number;
  /** anomaly bits of the stream's blocks */
  anomalies: number;
}

function numberOf(v: string): number | undefined {
  const n = Number(v);
  return v.length > 0 && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

export class H2Capture {
  private readonly c2s: Http2Parser;
  private readonly s2c: Http2Parser;
  private readonly streams = new Map<number, Stream>();
  /** the parsers' stream offset 0 in each TCP stream: [client, server] */
  private readonly base: [number, number];

  /**
   * @param clientBase client stream offset where the client parser starts (the preface's first byte)
   * @param serverBase server stream offset where the server parser starts
   */
  constructor(private readonly host: H2Host, clientBase: number, serverBase: number) {
    this.base = [clientBase, serverBase];
    const common = (fromClient: boolean): Pick<Http2Handler, 'onRst' | 'onGoaway' | 'onError' | 'onStreamEnd'> => ({
      onRst: () => {},
      onGoaway: () => {},
      onError: (e) => this.error(e),
      onStreamEnd: (st) => this.streamEnd(fromClient, st),
    });
    const clientH: Http2Handler = {
      ...common(true),
      onHeaders: (h) => {
        if (h.kind !== 'request') return; // trailers: no field in the record
        const s = this.stream(h.streamId);
        if (s.req !== undefined) return;
        s.req = this.request(h, true);
        s.anomalies |= s.req.anomalies ?? 0;
        this.host.stats.requests++;
        this.host.sink.request({ conn: this.host.conn(), reqId: h.streamId, req: s.req });
      },
      onData: (id, n) => {
        const s = this.streams.get(id);
        if (s !== undefined) s.reqBodyBytes += n;
      },
    };
    const serverH: Http2Handler = {
      ...common(false),
      onHeaders: (h) => {
        if (h.kind === 'push') {
          // a promised request, sent by the server on the stream it will answer on
          if (h.promisedStreamId === undefined || h.promisedStreamId === 0) return;
          const s = this.stream(h.promisedStreamId);
          s.req = this.request(h, false);
          s.anomalies |= s.req.anomalies ?? 0;
          this.host.stats.requests++;
          this.host.sink.request({ conn: this.host.conn(), reqId: h.promisedStreamId, req: s.req });
          return;
        }
        if (h.kind === 'trailers') return;
        const s = this.stream(h.streamId);
        const res = this.response(h);
        s.anomalies |= res.anomalies ?? 0;
        this.host.stats.responses++;
        if (h.kind === 'informational') s.interim.push(res);
        else s.res = res;
        const conn = this.host.conn();
        this.host.sink.response(s.req === undefined ? { conn, reqId: s.id, res } : { conn, reqId: s.id, req: s.req, res });
      },
      onData: (id, n) => {
        const s = this.streams.get(id);
        if (s !== undefined) s.resBodyBytes += n;
      },
    };
    // a lost segment must not end the connection's logging: parsing goes on after it, HPACK marked unreliable
    this.c2s = new Http2Parser(clientH, { side: 'client', preface: true, resyncAfterGap: true });
    this.s2c = new Http2Parser(serverH, { side: 'server', resyncAfterGap: true });
    pairHttp2Parsers(this.c2s, this.s2c);
  }

  /**
   * h2c upgrade: the HTTP/1.1 request (already parsed, its 101 among `interim`) is stream 1's request; its
   * HTTP2-Settings have been applied by the caller to `clientParser`.
   */
  upgraded(req: HttpRequestHead, interim: HttpResponseHead[], reqBodyBytes: number, gapAt: number): void {
    const s = this.stream(1);
    s.req = { ...req, version: H2_VERSION };
    s.interim = interim;
    s.reqBodyBytes = reqBodyBytes;
    s.gapAt = gapAt;
  }

  get clientParser(): Http2Parser {
    return this.c2s;
  }

  push(fromClient: boolean, buf: Buffer, tsUs: number): void {
    const p = fromClient ? this.c2s : this.s2c;
    if (p.dead) {
      this.host.stats.bytesSkipped += buf.length;
      return;
    }
    p.push(buf, tsUs);
  }

  gap(fromClient: boolean, n: number): void {
    (fromClient ? this.c2s : this.s2c).gap(n);
  }

  /** The connection is over: every stream still open is written, incomplete. */
  finish(reason: Incomplete): void {
    for (const s of [...this.streams.values()]) {
      if (s.req === undefined && s.res === undefined && s.interim.length === 0) {
        this.streams.delete(s.id);
        continue;
      }
      const gap = this.host.gapTotal() - s.gapAt > 0;
      let why: Incomplete;
      if (s.res !== undefined) why = 'partial-body';
      else if (reason === 'no-response' && gap) why = 'gap';
      else why = reason;
      this.emit(s, why);
    }
  }

  private stream(id: number): Stream {
    let s = this.streams.get(id);
    if (s === undefined) {
      s = { id, interim: [], reqBodyBytes: 0, resBodyBytes: 0, gapAt: this.host.gapTotal(), anomalies: 0 };
      this.streams.set(id, s);
    }
    return s;
  }

  private unreliable(h: Http2Headers): number {
    if (!h.unreliable && h.missing === 0) return 0;
    this.host.stats.h2UnreliableBlocks++;
    return HttpAnomaly.HPACK_UNRELIABLE;
  }

  private request(h: Http2Headers, fromClient: boolean): HttpRequestHead {
    const headers = h2HeaderList(h);
    const method = h.method ?? '';
    const req: HttpRequestHead = {
      tsUs: h.tsUs,
      method,
      uri: h.path ?? (method === 'CONNECT' ? h.authority ?? null : null),
      version: H2_VERSION,
      headers,
      chunked: false,
      headLen: h.blockBytes,
    };
    fill(req, headers, true);
    const host = h.authority ?? headers.find(([n]) => n === 'host')?.[1];
    if (host !== undefined) req.host = host;
    const bits = this.unreliable(h);
    if (bits !== 0) req.anomalies = bits;
    // a pushed request's HEADERS is the server's PUSH_PROMISE frame
    req.streamOffset = this.base[fromClient ? 0 : 1] + h.offset;
    req.seq = this.host.seqAt(fromClient, req.streamOffset);
    return req;
  }

  private response(h: Http2Headers): HttpResponseHead {
    const headers = h2HeaderList(h);
    const res: HttpResponseHead = {
      tsUs: h.tsUs, version: H2_VERSION, status: h.status ?? 0, reason: '', headers, chunked: false, headLen: h.blockBytes,
    };
    fill(res, headers, false);
    const bits = this.unreliable(h);
    if (bits !== 0) res.anomalies = bits;
    res.streamOffset = this.base[1] + h.offset;
    res.seq = this.host.seqAt(false, res.streamOffset);
    return res;
  }

  private streamEnd(fromClient: boolean, st: Http2StreamStats): void {
    const s = this.streams.get(st.streamId);
    if (s === undefined) return;
    if (fromClient) {
      // the request ended: the record waits for the server, unless the client gave the stream up
      if (st.end === 'reset') this.emit(s, s.res === undefined ? 'reset' : 'partial-body');
      else if (st.end === 'evicted') this.emit(s, 'evicted');
      return;
    }
    if (st.end === 'end-stream') this.emit(s, s.res === undefined ? 'no-response' : undefined);
    else this.emit(s, st.end === 'reset' ? 'reset' : 'evicted');
  }

  private emit(s: Stream, incomplete: Incomplete | undefined): void {
    this.streams.delete(s.id);
    const st = this.host.stats;
    const tx: HttpTransaction = {
      conn: this.host.conn(), reqId: s.id, interim: s.interim, gapBytes: this.host.gapTotal() - s.gapAt,
      reqBodyBytes: s.reqBodyBytes, resBodyBytes: s.resBodyBytes,
    };
    if (s.req !== undefined) tx.req = s.req;
    if (s.res !== undefined) tx.res = s.res;
    const first = s.interim[0] ?? s.res;
    if (s.req !== undefined && first !== undefined) tx.latencyMs = (first.tsUs - s.req.tsUs) / 1000;
    if (s.req === undefined) tx.incomplete = 'no-request';
    else if (incomplete !== undefined) tx.incomplete = incomplete;
    if (s.anomalies !== 0) tx.anomalies = s.anomalies;
    st.h2Streams++;
    st.transactions++;
    this.host.sink.transaction(tx);
  }

  private error(e: Http2Error): void {
    const st = this.host.stats;
    st.parseErrors++;
    st.parseErrorsByCode[e.code] = (st.parseErrorsByCode[e.code] ?? 0) + 1;
    if (e.layer === 'http2') st.h2FramesSkipped++;
  }
}

/** content-length, content-type and (requests) user-agent from a block's fields; the first of each counts */
function fill(h: HttpRequestHead | HttpResponseHead, headers: HeaderList, isRequest: boolean): void {
  for (const [n, v] of headers) {
    if (n === 'content-length') {
      const cl = numberOf(v);
      if (cl !== undefined && h.contentLength === undefined) h.contentLength = cl;
    } else if (n === 'content-type') h.contentType ??= v;
    else if (isRequest && n === 'user-agent') (h as HttpRequestHead).userAgent ??= v;
  }
}
