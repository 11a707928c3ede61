/**
 * The HTTP/1 adapter: an Http1Parser per direction, responses paired with requests in order (pipelining), 1xx as
 * interim; and the h2c upgrade (RFC 9113 3.2 / RFC 7540 3.2), after which the connection is HTTP/2's (h2.ts).
 */
import type { HeaderList, Incomplete, TraceProtocol, TraceRequest } from '../../records.js';
import { Http1Parser, type Http1Handler } from '../../proto/http1/index.js';
import { emitTransaction, type Conn, type H1Txn, type TraceOutput } from './conn.js';
import { makeH2 } from './h2.js';
import { acceptsH2cUpgrade, applyH2cSettings, asksH2cUpgrade } from '../h2-common.js';

const h1Protocol = (v: string): TraceProtocol => (v === 'HTTP/1.0' ? 'HTTP/1.0' : 'HTTP/1.1');

/** Makes the connection HTTP/1: its two parsers, whose handlers write requests, responses and transactions. */
export function makeH1(out: TraceOutput, c: Conn, midStream: boolean): void {
  c.proto = 'h1';
  const scheme = (): string => (c.info.tls ? 'https' : 'http');
  const reqH: Http1Handler = {
    onRequest: (head) => {
      const txn: H1Txn = { reqId: ++c.h1Count, interim: [], reqBodyBytes: 0, resBodyBytes: 0, reqDone: false };
      const headers: HeaderList = [];
      for (const [n, v] of head.headers) if (n.length !== 4 || n.toLowerCase() !== 'host') headers.push([n, v]);
      const protocol = h1Protocol(head.version);
      if (c.h1Count === 1) c.info.protocol = protocol;
      txn.req = {
        tsUs: head.tsUs, protocol, method: head.method, path: head.uri ?? undefined, authority: head.host, scheme: scheme(),
        headers, userAgent: head.userAgent, contentLength: head.contentLength, contentType: head.contentType,
        anomalies: head.anomalies,
      };
      txn.reqHead = head;
      c.h1Queue.push(txn);
      if (!c.info.tls && protocol === 'HTTP/1.1' && asksH2cUpgrade(head.headers)) {
        // printed once the answer says in which protocol it is served (101: HTTP/2 stream 1, as h2o logs it)
        txn.h2cUpgrade = true;
        return;
      }
      out.stats.requests++;
      out.sink.request({ conn: c.info, reqId: txn.reqId, req: txn.req });
    },
    onResponse: () => undefined,
    onTrailers: (fields) => {
      const t = c.h1Queue[c.h1Queue.length - 1];
      if (t?.req === undefined) return;
      t.req.trailers = fields;
      out.sink.trailers?.({ conn: c.info, reqId: t.reqId, request: true, req: t.req, trailers: fields });
    },
    onBody: (n) => {
      const t = c.h1Queue[c.h1Queue.length - 1];
      if (t !== undefined) t.reqBodyBytes += n;
    },
    onMessageEnd: () => {
      const t = c.h1Queue[c.h1Queue.length - 1];
      if (t !== undefined) t.reqDone = true;
    },
    onError: () => { out.stats.parseErrors++; },
    onNotHttp: () => { c.resParser?.stop(); },
    onTunnel: () => {},
  };
  const resH: Http1Handler = {
    onRequest: () => {},
    onResponse: (head) => {
      let t = c.h1Queue.find((x) => x.res === undefined);
      if (t === undefined) {
        // a response to a request that was not seen (mid-stream): numbered, without a request
        t = { reqId: ++c.h1Count, interim: [], reqBodyBytes: 0, resBodyBytes: 0, reqDone: true };
        c.h1Queue.push(t);
      }
      t.firstResTs ??= head.tsUs;
      const status = head.status;
      if (t.h2cUpgrade === true && (status === 101 || status >= 200)) {
        t.h2cUpgrade = false;
        if (acceptsH2cUpgrade(status, head.headers)) {
          // the parser stops after this head; onTunnel moves the connection to HTTP/2
          t.switched = true;
          t.interim.push(101);
          return t.req?.method;
        }
        out.stats.requests++; // declined: an HTTP/1.1 request after all
        out.sink.request({ conn: c.info, reqId: t.reqId, req: t.req! });
      }
      if (status >= 100 && status < 200 && status !== 101) {
        t.interim.push(status);
        return t.req?.method;
      }
      t.res = {
        tsUs: head.tsUs, protocol: h1Protocol(head.version), status, reason: head.reason,
        headers: head.headers.slice(), contentLength: head.contentLength, contentType: head.contentType,
        anomalies: head.anomalies,
      };
      t.resHead = head;
      out.stats.responses++;
      out.sink.response({ conn: c.info, reqId: t.reqId, req: t.req, res: t.res });
      return t.req?.method;
    },
    onBody: (n) => {
      const t = c.h1Queue.find((x) => x.res !== undefined);
      if (t !== undefined) t.resBodyBytes += n;
    },
    onMessageEnd: () => {
      const i = c.h1Queue.findIndex((x) => x.res !== undefined);
      if (i < 0) return; // an interim response ended
      const [t] = c.h1Queue.splice(i, 1);
      // a pipelined request before this one without a response (mid-stream loss) stays queued
      h1Emit(out, c, t, undefined);
    },
    onTrailers: (fields) => {
      const t = c.h1Queue.find((x) => x.res !== undefined);
      if (t === undefined) return;
      t.res!.trailers = fields;
      out.sink.trailers?.({ conn: c.info, reqId: t.reqId, request: false, req: t.req, res: t.res, trailers: fields });
    },
    onError: () => { out.stats.parseErrors++; },
    onNotHttp: () => {},
    onTunnel: () => {
      const i = c.h1Queue.findIndex((x) => x.switched === true);
      if (i >= 0) upgradeH2c(out, c, c.h1Queue[i]);
      else c.reqParser?.stop();
    },
  };
  c.reqParser = new Http1Parser(reqH, 1);
  c.resParser = new Http1Parser(resH, 2);
  c.reqParser.midStream = midStream;
  c.resParser.midStream = midStream;
}

/**
 * Feeds a chunk to the parser of its direction. Returns the chunk's rest when an h2c upgrade's 101 ended in it: the
 * connection is HTTP/2 now, and that rest (and the cut after it) goes to its HTTP/2 parser.
 */
export function pushH1(out: TraceOutput, c: Conn, fromClient: boolean, buf: Buffer, tsUs: number, cut: number): Buffer | undefined {
  const p = fromClient ? c.reqParser! : c.resParser!;
  if (p.dead) {
    out.stats.unparsedBytes += buf.length;
    return undefined;
  }
  const base = p.streamOffset;
  p.push(buf, tsUs);
  if (c.proto === 'h2') return buf.subarray(p.tunnelAt - base);
  if (cut > 0) {
    out.stats.truncatedBytes += cut;
    p.gap(cut, tsUs);
  }
  return undefined;
}

/** The connection is over: a response read until close is complete now; what is still queued is incomplete. */
export function finishH1(out: TraceOutput, c: Conn): void {
  c.resParser!.end();
  c.reqParser!.end();
  for (const t of c.h1Queue) {
    if (t.req === undefined && t.res === undefined) continue;
    if (t.h2cUpgrade === true) {
      // held for an answer that never came: shown as the HTTP/1.1 request it was
      t.h2cUpgrade = false;
      out.stats.requests++;
      out.sink.request({ conn: c.info, reqId: t.reqId, req: t.req! });
    }
    h1Emit(out, c, t, t.res === undefined ? 'no-response' : 'partial-body');
  }
  c.h1Queue = [];
}

/**
 * h2c upgrade (RFC 9113 3.2 / RFC 7540 3.2) accepted by a 101: from the byte after the 101's head the server
 * speaks HTTP/2 (its SETTINGS, then stream 1's response), and the client's next bytes are the preface. The
 * upgrade request is stream 1, shown as an HTTP/2 request as h2o itself logs it (`%H` is HTTP/2, stream id 1).
 */
function upgradeH2c(out: TraceOutput, c: Conn, t: H1Txn): void {
  c.reqParser!.stop();
  // requests before it without a response cannot get one now
  for (const x of c.h1Queue) if (x !== t) h1Emit(out, c, x, 'no-response');
  c.h1Queue = [];
  makeH2(out, c, false); // HTTP/2 starts here: its HPACK state is complete even if the HTTP/1 part was not
  applyH2cSettings(t.req!.headers, c.c2s!);
  const req: TraceRequest = { ...t.req!, protocol: 'HTTP/2.0', streamId: 1 };
  c.h2Streams.set(1, {
    req, interim: t.interim, firstResTs: t.firstResTs, reqBodyBytes: t.reqBodyBytes, resBodyBytes: 0, done: false,
  });
  out.stats.requests++;
  out.sink.request({ conn: c.info, reqId: 1, req });
}

function h1Emit(out: TraceOutput, c: Conn, t: H1Txn, incomplete: Incomplete | undefined): void {
  // anomalies the parser found in the bodies after their heads were reported
  if (t.req !== undefined && t.reqHead !== undefined) t.req.anomalies = t.reqHead.anomalies;
  if (t.res !== undefined && t.resHead !== undefined) t.res.anomalies = t.resHead.anomalies;
  emitTransaction(out, c, t.reqId, t, incomplete);
}
