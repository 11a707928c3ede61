/**
 * `wirelog trace`: the sensor's per-process events (TraceData / TraceConn / TraceProc) → per-connection directional
 * byte streams → protocol detection (HTTP/1.x or HTTP/2) → the proto parsers → request / response / transaction
 * records for the h2olog and JSON lines sinks.
 *
 * Why it looks like this:
 * - Syscall data of one fd arrives in order per direction (ingress = read family, egress = write family), so no
 *   reassembly: each direction is a plain byte stream. A connection is keyed by (tgid, fd); a conn event
 *   (accept/connect/close) on that fd, or a changed 5-tuple, starts a new one.
 * - TLS: syscall bytes flagged WL_DF_TLS are ciphertext and ignored; the plaintext comes as source 'tls' events
 *   joined to the same (tgid, fd) (fd -1: keyed by the SSL object instead). Once a connection has plaintext
 *   events, its syscall bytes are never parsed again.
 * - Role: accept → this process is the server, connect → the client; else decided from content (who sends a
 *   request line or the HTTP/2 preface, who sends a status line or the server's first SETTINGS).
 * - Nothing is invented: a stream picked up mid-way gets mid-stream parsers, HPACK names it cannot know are kept
 *   as `:missing-N`.
 */
import type {
  HeaderList, TraceConnInfo, TraceProtocol, TraceRequest, TraceRequestEvent, TraceResponse, TraceRole, TraceSink,
  TraceTrailersEvent, TraceTrackerStats, TraceTransaction,
} from '../records.js';
import type { TraceConn, TraceData, TraceProc } from '../decode/sensor.js';
import { Http1Parser, looksLikeHttpStart, HTTP_START_REQUEST, HTTP_START_RESPONSE, type Http1Handler } from '../proto/http1/index.js';
import {
  Http2Parser, pairHttp2Parsers, matchHttp2Preface, looksLikeHttp2ServerStart,
  FRAME_HEADER_LEN, type Http2Handler, type Http2Headers,
} from '../proto/http2.js';

export interface TraceTrackerOptions {
  /** bytes held per connection while its protocol or role is undecided (default 256 KiB) */
  maxPending?: number;
}

const MAX_PENDING = 256 * 1024;

interface PendingChunk {
  dir: 'in' | 'out';
  buf: Buffer;
  tsUs: number;
  /** bytes the snaplen cut after this chunk */
  cut: number;
}

/** What an HTTP/1 transaction and an HTTP/2 stream both keep until the record is written. */
interface TxnState {
  req?: TraceRequest;
  res?: TraceResponse;
  interim: number[];
  firstResTs?: number;
  reqBodyBytes: number;
  resBodyBytes: number;
}

interface H1Txn extends TxnState {
  reqId: number;
  reqDone: boolean;
  /** the request asked for an h2c upgrade: its lines wait for the answer (101: it becomes HTTP/2 stream 1) */
  h2cUpgrade?: boolean;
  /** a 101 accepted the h2c upgrade */
  switched?: boolean;
}

interface H2Stream extends TxnState {
  done: boolean;
}

class Conn {
  readonly info: TraceConnInfo;
  role: TraceRole | undefined;
  /** undecided, h1, h2, or given up (not HTTP) */
  proto: 0 | 1 | 2 | -1 = 0;
  /** which event source feeds the parsers: set by the first data event used */
  source: 'syscall' | 'tls' | undefined;
  pending: PendingChunk[] = [];
  pendingBytes = 0;
  /** any bytes of the connection's start were seen (accept/connect seen, or first bytes start a message) */
  sawStart = false;
  /** HTTP/1 */
  reqParser: Http1Parser | undefined;
  resParser: Http1Parser | undefined;
  h1Queue: H1Txn[] = [];
  h1Count = 0;
  /** HTTP/2 */
  c2s: Http2Parser | undefined;
  s2c: Http2Parser | undefined;
  h2Streams = new Map<number, H2Stream>();
  closed = false;
  /** this process's end and the peer, as the sensor reported them (oriented client → server in info) */
  local: [string, number] = ['', 0];
  remote: [string, number] = ['', 0];

  /** the (tgid, fd) it is filed under, or the SSL object's key when the fd is unknown */
  constructor(readonly pid: number, readonly fd: number, readonly sslKey: string | undefined, info: TraceConnInfo) {
    this.info = info;
  }
}

/** Decides an undecided connection's role from a chunk's first bytes: the sender of a request is the client. */
function roleFromContent(dir: 'in' | 'out', b: Buffer): { role: TraceRole; proto: 1 | 2 } | undefined | 'wait' {
  const pre = matchHttp2Preface(b, 0, b.length);
  if (pre === 2) return { role: dir === 'out' ? 'client' : 'server', proto: 2 };
  if (pre === 1) return 'wait';
  const k = looksLikeHttpStart(b, 0, b.length);
  if (k === HTTP_START_REQUEST) return { role: dir === 'out' ? 'client' : 'server', proto: 1 };
  if (k === HTTP_START_RESPONSE) return { role: dir === 'out' ? 'server' : 'client', proto: 1 };
  if (looksLikeHttp2ServerStart(b, 0)) return { role: dir === 'out' ? 'server' : 'client', proto: 2 };
  return undefined;
}

/** Does b hold whole HTTP/2 frames, back to back, to its end? (a write of frames, seen mid-connection) */
function isFrameSequence(b: Buffer): boolean {
  let p = 0;
  let n = 0;
  while (p + FRAME_HEADER_LEN <= b.length) {
    const len = (b[p] << 16) | (b[p + 1] << 8) | b[p + 2];
    const type = b[p + 3];
    if (type > 9 || len > 16384 || (b[p + 5] & 0x80) !== 0) return false;
    p += FRAME_HEADER_LEN + len;
    n++;
  }
  return n > 0 && p === b.length;
}

/** For a mid-stream HTTP/2 chunk: does it carry a request (:method) or a response (:status) block? */
function h2Direction(b: Buffer): 'request' | 'response' | undefined {
  let found: 'request' | 'response' | undefined;
  const probe = new Http2Parser(
    {
      onHeaders: (h) => {
        if (found !== undefined) return;
        if (h.method !== undefined || h.path !== undefined) found = 'request';
        else if (h.status !== undefined) found = 'response';
      },
      onData() {}, onRst() {}, onGoaway() {}, onError() {},
    },
    { side: 'client', preface: false, midStream: true },
  );
  probe.push(b, 0);
  return found;
}

const h1Protocol = (v: string): TraceProtocol => (v === 'HTTP/1.0' ? 'HTTP/1.0' : 'HTTP/1.1');

export class TraceTracker {
  readonly stats: TraceTrackerStats = {
    dataEvents: 0, connEvents: 0, procEvents: 0, requests: 0, responses: 0, transactions: 0, connections: 0,
    tlsCiphertextBytes: 0, unparsedBytes: 0, truncatedBytes: 0, parseErrors: 0, pendingDropped: 0,
  };
  /** open connections in the order they were opened (end() and a process's exit finish them in this order) */
  private readonly conns = new Set<Conn>();
  /** tgid → fd → connection: number keys, no key string built per event */
  private readonly byFd = new Map<number, Map<number, Conn>>();
  /** TLS connections by (tgid, SSL*) when the fd is unknown */
  private readonly bySsl = new Map<string, Conn>();
  private nextConnId = 1;
  private readonly maxPending: number;

  constructor(private readonly sink: TraceSink, opts: TraceTrackerOptions = {}) {
    this.maxPending = opts.maxPending ?? MAX_PENDING;
  }

  /** Open connections (for tests and the summary). */
  get openConnections(): number {
    return this.conns.size;
  }

  conn(c: TraceConn): void {
    this.stats.connEvents++;
    if (c.kind === 'state' || c.fd < 0) return;
    if (c.kind === 'close') {
      const old = this.byFd.get(c.pid)?.get(c.fd);
      if (old !== undefined) this.finish(old, 'closed');
      return;
    }
    if (c.kind === 'accept' || c.kind === 'connect') {
      // accept: the event's fd is the new socket (ret carries it too)
      const fd = c.kind === 'accept' && c.ret >= 0 ? c.ret : c.fd;
      const old = this.byFd.get(c.pid)?.get(fd);
      if (old !== undefined) this.finish(old, 'closed'); // the fd was reused
      const conn = this.open(undefined, c.pid, c.comm, fd, c.family, c.localAddr, c.localPort, c.remoteAddr, c.remotePort);
      conn.role = c.kind === 'accept' ? 'server' : 'client';
      conn.sawStart = true;
      this.orient(conn);
    }
  }

  proc(p: TraceProc): void {
    this.stats.procEvents++;
    if (p.kind !== 'exit') return;
    // every connection of the process is over
    for (const c of this.conns) if (c.pid === p.pid) this.finish(c, 'closed');
  }

  data(d: TraceData): void {
    this.stats.dataEvents++;
    const cut = d.len > d.payload.length ? d.len - d.payload.length : 0;
    if (d.source === 'syscall') {
      if (d.fd < 0) return;
      let conn = this.byFd.get(d.pid)?.get(d.fd);
      if (conn !== undefined && d.family !== 0 && conn.info.family !== 0 && !this.sameTuple(conn, d)) {
        this.finish(conn, 'closed'); // the fd now names another socket
        conn = undefined;
      }
      if (conn === undefined) {
        conn = this.open(undefined, d.pid, d.comm, d.fd, d.family, d.localAddr, d.localPort, d.remoteAddr, d.remotePort);
      } else if (conn.info.family === 0 && d.family !== 0) {
        this.setTuple(conn, d.family, d.localAddr, d.localPort, d.remoteAddr, d.remotePort);
      }
      if (d.tlsBytes || conn.source === 'tls') {
        conn.info.tls = true;
        this.stats.tlsCiphertextBytes += d.len;
        return;
      }
      conn.source = 'syscall';
      this.feed(conn, d.direction, d.payload, d.direction === 'out' ? d.enterUs : d.tsUs, cut);
      return;
    }
    // TLS plaintext: joined to its socket by (tgid, fd), else by the SSL object
    const sslKey = d.fd >= 0 ? undefined : `${d.pid}:ssl:${d.ssl}`;
    let conn = sslKey === undefined ? this.byFd.get(d.pid)?.get(d.fd) : this.bySsl.get(sslKey);
    if (conn === undefined) {
      conn = this.open(sslKey, d.pid, d.comm, d.fd, d.family, d.localAddr, d.localPort, d.remoteAddr, d.remotePort);
    } else if (conn.info.family === 0 && d.family !== 0) {
      this.setTuple(conn, d.family, d.localAddr, d.localPort, d.remoteAddr, d.remotePort);
    }
    conn.info.tls = true;
    if (conn.source === 'syscall') this.restart(conn); // what was parsed so far was ciphertext (not flagged yet)
    conn.source = 'tls';
    this.feed(conn, d.direction, d.payload, d.direction === 'out' ? d.enterUs : d.tsUs, cut);
  }

  /** End of the trace: every open connection is finished, pending transactions written as incomplete. */
  end(): void {
    for (const c of [...this.conns.values()]) this.finish(c, 'closed');
  }

  // ---------------------------------------------------------------------------------------------------------------

  private open(sslKey: string | undefined, pid: number, comm: string, fd: number, family: 0 | 4 | 6, la: string, lp: number, ra: string, rp: number): Conn {
    const info: TraceConnInfo = {
      connId: 0, pid, comm, fd, role: 'server', tls: false, protocol: 'HTTP/1.1', family,
      clientIp: ra, clientPort: rp, serverIp: la, serverPort: lp, midStream: false,
    };
    const c = new Conn(pid, fd, sslKey, info);
    c.local = [la, lp];
    c.remote = [ra, rp];
    this.conns.add(c);
    if (sslKey !== undefined) {
      this.bySsl.set(sslKey, c);
    } else {
      let m = this.byFd.get(pid);
      if (m === undefined) this.byFd.set(pid, (m = new Map()));
      m.set(fd, c);
    }
    return c;
  }

  private setTuple(c: Conn, family: 0 | 4 | 6, la: string, lp: number, ra: string, rp: number): void {
    c.info.family = family;
    c.local = [la, lp];
    c.remote = [ra, rp];
    this.orient(c);
  }

  private sameTuple(c: Conn, d: TraceData): boolean {
    const x = c;
    return x.local[0] === d.localAddr && x.local[1] === d.localPort && x.remote[0] === d.remoteAddr && x.remote[1] === d.remotePort;
  }

  /** client → server addresses from the role */
  private orient(c: Conn): void {
    const x = c;
    const [client, server] = c.role === 'client' ? [x.local, x.remote] : [x.remote, x.local];
    c.info.clientIp = client[0];
    c.info.clientPort = client[1];
    c.info.serverIp = server[0];
    c.info.serverPort = server[1];
    if (c.role !== undefined) c.info.role = c.role;
  }

  /** Drop parsers and state (TLS plaintext replaces syscall bytes that were taken for cleartext). */
  private restart(c: Conn): void {
    c.reqParser?.stop();
    c.resParser?.stop();
    c.c2s?.stop();
    c.s2c?.stop();
    c.reqParser = c.resParser = c.c2s = c.s2c = undefined;
    c.h1Queue = [];
    c.h2Streams.clear();
    c.pending = [];
    c.pendingBytes = 0;
    c.proto = 0;
  }

  private feed(c: Conn, dir: 'in' | 'out', payload: Buffer, tsUs: number, cut: number): void {
    if (c.proto === -1) {
      this.stats.unparsedBytes += payload.length;
      return;
    }
    if (c.proto === 0) {
      if (c.pendingBytes + payload.length > this.maxPending) {
        this.stats.pendingDropped += payload.length;
        return;
      }
      c.pending.push({ dir, buf: Buffer.from(payload), tsUs, cut }); // the view dies with the callback
      c.pendingBytes += payload.length;
      if (!this.decide(c)) return;
      const chunks = c.pending;
      c.pending = [];
      c.pendingBytes = 0;
      for (const ch of chunks) this.push(c, ch.dir, ch.buf, ch.tsUs, ch.cut);
      return;
    }
    this.push(c, dir, payload, tsUs, cut);
  }

  /** Try to decide role and protocol from what is pending; true when decided (parsers made). */
  private decide(c: Conn): boolean {
    let proto: 1 | 2 | 0 = 0;
    let midStream = !c.sawStart;
    if (c.role === undefined) {
      for (let i = 0; i < c.pending.length; i++) {
        const ch = c.pending[i];
        const r = roleFromContent(ch.dir, this.joined(c, ch.dir, i));
        if (r === 'wait') return false;
        if (r !== undefined) {
          c.role = r.role;
          this.orient(c);
          // a server's SETTINGS names the role only: the protocol start is the client's preface, looked at below
          if (r.proto === 2 && matchHttp2Preface(ch.buf) !== 2) break;
          proto = r.proto;
          if (i > 0 && proto === 1) {
            // bytes before the first start line are the tail of an earlier message: not parsable
            for (let j = 0; j < i; j++) this.stats.unparsedBytes += c.pending[j].buf.length;
            c.pending = c.pending.slice(i);
          }
          // HTTP/2 with the preface in view starts at the connection's start; HTTP/1 from a request line on
          midStream = r.proto === 2 ? !(ch.dir === (r.role === 'client' ? 'out' : 'in') && matchHttp2Preface(ch.buf) === 2) : i > 0 && !c.sawStart;
          break;
        }
        if (isFrameSequence(ch.buf)) {
          const kind = h2Direction(ch.buf);
          if (kind !== undefined) {
            c.role = (kind === 'request') === (ch.dir === 'out') ? 'client' : 'server';
            proto = 2;
            midStream = true;
            this.orient(c);
            break;
          }
        }
      }
      if (c.role === undefined) {
        // nothing recognisable yet; give up on a connection that keeps sending unknown bytes
        if (c.pendingBytes >= 16 * 1024) this.giveUp(c);
        return false;
      }
    }
    if (proto === 0) {
      // role known (accept/connect or content): look at the client's first bytes
      const reqDir = c.role === 'server' ? 'in' : 'out';
      const first = c.pending.findIndex((ch) => ch.dir === reqDir);
      const firstRes = c.pending.findIndex((ch) => ch.dir !== reqDir);
      if (first < 0) {
        // only the server has spoken: an HTTP/2 server's SETTINGS, else wait for the client
        if (firstRes >= 0 && looksLikeHttp2ServerStart(c.pending[firstRes].buf)) {
          if (c.pendingBytes < 64 * 1024) return false; // wait for the preface to confirm
        }
        if (c.pendingBytes >= 64 * 1024) this.giveUp(c);
        return false;
      }
      const b = this.joined(c, reqDir, first);
      const pre = matchHttp2Preface(b, 0, b.length);
      if (pre === 1) return false;
      if (pre === 2) {
        proto = 2;
        midStream = false;
      } else if (looksLikeHttpStart(b, 0, b.length) === HTTP_START_REQUEST) proto = 1;
      else if (isFrameSequence(c.pending[first].buf)) {
        proto = 2;
        midStream = true;
      } else if (firstRes >= 0 && looksLikeHttp2ServerStart(c.pending[firstRes].buf)) {
        proto = 2;
        midStream = true;
      } else {
        proto = 1;
        midStream = true;
      }
    }
    c.info.midStream = midStream;
    c.info.connId = this.nextConnId++;
    this.stats.connections++;
    if (proto === 2) this.makeH2(c, midStream);
    else this.makeH1(c, midStream);
    return true;
  }

  /** pending bytes of `dir` from chunk `from` on, joined (the preface may come in pieces) */
  private joined(c: Conn, dir: 'in' | 'out', from: number): Buffer {
    const parts: Buffer[] = [];
    for (let i = from; i < c.pending.length; i++) if (c.pending[i].dir === dir) parts.push(c.pending[i].buf);
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  private giveUp(c: Conn): void {
    c.proto = -1;
    this.stats.unparsedBytes += c.pendingBytes;
    c.pending = [];
    c.pendingBytes = 0;
  }

  private push(c: Conn, dir: 'in' | 'out', buf: Buffer, tsUs: number, cut: number): void {
    const fromClient = (dir === 'out') === (c.role === 'client');
    if (c.proto === 1) {
      const p = fromClient ? c.reqParser! : c.resParser!;
      if (p.dead) {
        this.stats.unparsedBytes += buf.length;
        return;
      }
      const base = p.streamOffset;
      p.push(buf, tsUs);
      if ((c.proto as number) === 2) {
        // an h2c upgrade's 101 ended in this chunk: the rest of it (and the cut) is HTTP/2
        this.push(c, dir, buf.subarray(p.tunnelAt - base), tsUs, cut);
        return;
      }
      if (cut > 0) {
        this.stats.truncatedBytes += cut;
        p.gap(cut, tsUs);
      }
    } else if (c.proto === 2) {
      const p = fromClient ? c.c2s! : c.s2c!;
      if (p.dead) {
        this.stats.unparsedBytes += buf.length;
        return;
      }
      p.push(buf, tsUs);
      if (cut > 0) {
        this.stats.truncatedBytes += cut;
        p.gap(cut);
      }
    } else {
      this.stats.unparsedBytes += buf.length;
    }
  }

  // --- HTTP/1 -----------------------------------------------------------------------------------------------------

  private makeH1(c: Conn, midStream: boolean): void {
    c.proto = 1;
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
        };
        c.h1Queue.push(txn);
        if (!c.info.tls && protocol === 'HTTP/1.1' && asksH2cUpgrade(head.headers)) {
          // printed once the answer says in which protocol it is served (101: HTTP/2 stream 1, as h2o logs it)
          txn.h2cUpgrade = true;
          return;
        }
        this.stats.requests++;
        this.sink.request({ conn: c.info, reqId: txn.reqId, req: txn.req });
      },
      onResponse: () => undefined,
      onTrailers: (fields) => {
        const t = c.h1Queue[c.h1Queue.length - 1];
        if (t?.req === undefined) return;
        t.req.trailers = fields;
        this.sink.trailers?.({ conn: c.info, reqId: t.reqId, request: true, req: t.req, trailers: fields });
      },
      onBody: (n) => {
        const t = c.h1Queue[c.h1Queue.length - 1];
        if (t !== undefined) t.reqBodyBytes += n;
      },
      onMessageEnd: () => {
        const t = c.h1Queue[c.h1Queue.length - 1];
        if (t !== undefined) t.reqDone = true;
      },
      onError: () => { this.stats.parseErrors++; },
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
          if (status === 101 && hasToken(head.headers, 'upgrade', 'h2c')) {
            // the parser stops after this head; onTunnel moves the connection to HTTP/2
            t.switched = true;
            t.interim.push(101);
            return t.req?.method;
          }
          this.stats.requests++; // declined: an HTTP/1.1 request after all
          this.sink.request({ conn: c.info, reqId: t.reqId, req: t.req! });
        }
        if (status >= 100 && status < 200 && status !== 101) {
          t.interim.push(status);
          return t.req?.method;
        }
        t.res = {
          tsUs: head.tsUs, protocol: h1Protocol(head.version), status, reason: head.reason,
          headers: head.headers.slice(), contentLength: head.contentLength, contentType: head.contentType,
        };
        this.stats.responses++;
        this.sink.response({ conn: c.info, reqId: t.reqId, req: t.req, res: t.res });
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
        this.h1Emit(c, t, undefined);
      },
      onTrailers: (fields) => {
        const t = c.h1Queue.find((x) => x.res !== undefined);
        if (t === undefined) return;
        t.res!.trailers = fields;
        this.sink.trailers?.({ conn: c.info, reqId: t.reqId, request: false, req: t.req, res: t.res, trailers: fields });
      },
      onError: () => { this.stats.parseErrors++; },
      onNotHttp: () => {},
      onTunnel: () => {
        const i = c.h1Queue.findIndex((x) => x.switched === true);
        if (i >= 0) this.upgradeH2c(c, c.h1Queue[i]);
        else c.reqParser?.stop();
      },
    };
    c.reqParser = new Http1Parser(reqH, 1);
    c.resParser = new Http1Parser(resH, 2);
    c.reqParser.midStream = midStream;
    c.resParser.midStream = midStream;
  }

  /**
   * h2c upgrade (RFC 9113 3.2 / RFC 7540 3.2) accepted by a 101: from the byte after the 101's head the server
   * speaks HTTP/2 (its SETTINGS, then stream 1's response), and the client's next bytes are the preface. The
   * upgrade request is stream 1, shown as an HTTP/2 request as h2o itself logs it (`%H` is HTTP/2, stream id 1).
   */
  private upgradeH2c(c: Conn, t: H1Txn): void {
    c.reqParser!.stop();
    // requests before it without a response cannot get one now
    for (const x of c.h1Queue) if (x !== t) this.h1Emit(c, x, 'no-response');
    c.h1Queue = [];
    this.makeH2(c, false); // HTTP/2 starts here: its HPACK state is complete even if the HTTP/1 part was not
    const settings = t.req!.headers.find(([n]) => n.length === 14 && n.toLowerCase() === 'http2-settings');
    if (settings !== undefined) c.c2s!.applySettingsPayload(Buffer.from(settings[1].trim(), 'base64url'));
    const req: TraceRequest = { ...t.req!, protocol: 'HTTP/2.0', streamId: 1 };
    c.h2Streams.set(1, {
      req, interim: t.interim, firstResTs: t.firstResTs, reqBodyBytes: t.reqBodyBytes, resBodyBytes: 0, done: false,
    });
    this.stats.requests++;
    this.sink.request({ conn: c.info, reqId: 1, req });
  }

  private h1Emit(c: Conn, t: H1Txn, incomplete: string | undefined): void {
    this.emit(c, t.reqId, t, incomplete);
  }

  /** Writes the transaction of an HTTP/1 exchange or an HTTP/2 stream. */
  private emit(c: Conn, reqId: number, t: TxnState, incomplete: string | undefined): void {
    const tx: TraceTransaction = {
      conn: c.info, reqId, req: t.req, res: t.res, interim: t.interim,
      reqBodyBytes: t.reqBodyBytes, resBodyBytes: t.resBodyBytes,
    };
    if (t.req !== undefined && t.firstResTs !== undefined) tx.latencyMs = (t.firstResTs - t.req.tsUs) / 1000;
    if (incomplete !== undefined) tx.incomplete = incomplete;
    else if (t.req === undefined) tx.incomplete = 'no-request';
    this.stats.transactions++;
    this.sink.transaction(tx);
  }

  // --- HTTP/2 -----------------------------------------------------------------------------------------------------

  private makeH2(c: Conn, midStream: boolean): void {
    c.proto = 2;
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
      onError: () => { this.stats.parseErrors++; },
    };
    const clientH: Http2Handler = {
      ...common,
      onHeaders: (h) => {
        if (h.kind === 'trailers') {
          const s = c.h2Streams.get(h.streamId);
          if (s?.req === undefined) return;
          s.req.trailers = h2Headers(h);
          this.sink.trailers?.({ conn: c.info, reqId: h.streamId, request: true, req: s.req, trailers: s.req.trailers });
          return;
        }
        if (h.kind !== 'request') return;
        const s = stream(h.streamId);
        s.req = h2Request(h, c.info.tls);
        this.stats.requests++;
        this.sink.request({ conn: c.info, reqId: h.streamId, req: s.req });
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
          this.sink.trailers?.({ conn: c.info, reqId: h.streamId, request: false, req: s.req, res: s.res, trailers: s.res.trailers });
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
        this.stats.responses++;
        this.sink.response({ conn: c.info, reqId: h.streamId, req: s.req, res: s.res });
      },
      onData: (id, n) => {
        const s = c.h2Streams.get(id);
        if (s !== undefined) s.resBodyBytes += n;
      },
      onStreamEnd: (st) => {
        const s = c.h2Streams.get(st.streamId);
        if (s === undefined || s.res === undefined) return;
        this.h2Emit(c, st.streamId, s, st.end === 'end-stream' ? undefined : st.end);
      },
    };
    c.c2s = new Http2Parser(clientH, { side: 'client', preface: !midStream, midStream });
    c.s2c = new Http2Parser(serverH, { side: 'server', midStream });
    pairHttp2Parsers(c.c2s, c.s2c);
  }

  private h2Emit(c: Conn, id: number, s: H2Stream, incomplete: string | undefined): void {
    if (s.done) return;
    s.done = true;
    c.h2Streams.delete(id);
    // a stream that ends without its response is incomplete (an HTTP/1 exchange ends only with one)
    this.emit(c, id, s, incomplete ?? (s.req !== undefined && s.res === undefined ? 'no-response' : undefined));
  }

  // --- end --------------------------------------------------------------------------------------------------------

  private finish(c: Conn, _why: string): void {
    if (c.closed) return;
    c.closed = true;
    this.conns.delete(c);
    if (c.sslKey !== undefined) {
      this.bySsl.delete(c.sslKey);
    } else {
      const m = this.byFd.get(c.pid);
      if (m !== undefined && m.get(c.fd) === c) {
        m.delete(c.fd);
        if (m.size === 0) this.byFd.delete(c.pid);
      }
    }
    if (c.proto === 0) this.stats.unparsedBytes += c.pendingBytes;
    if (c.proto === 1) {
      c.resParser!.end(); // a response read until close is complete now
      c.reqParser!.end();
      for (const t of c.h1Queue) {
        if (t.req === undefined && t.res === undefined) continue;
        if (t.h2cUpgrade === true) {
          // held for an answer that never came: shown as the HTTP/1.1 request it was
          t.h2cUpgrade = false;
          this.stats.requests++;
          this.sink.request({ conn: c.info, reqId: t.reqId, req: t.req! });
        }
        this.h1Emit(c, t, t.res === undefined ? 'no-response' : 'partial-body');
      }
      c.h1Queue = [];
    } else if (c.proto === 2) {
      for (const [id, s] of [...c.h2Streams]) {
        if (s.req === undefined && s.res === undefined) continue;
        this.h2Emit(c, id, s, s.res === undefined ? 'no-response' : 'partial-body');
      }
    }
  }
}

/** Does a header `name` (lower-case) list the token (lower-case) in its comma-separated value? */
function hasToken(headers: HeaderList, name: string, token: string): boolean {
  for (const [n, v] of headers) {
    if (n.length !== name.length || n.toLowerCase() !== name) continue;
    for (const x of v.split(',')) if (x.trim().toLowerCase() === token) return true;
  }
  return false;
}

/** An HTTP/1.1 request asking for HTTP/2 over cleartext: `Upgrade: h2c` and one `HTTP2-Settings` (RFC 7540 3.2). */
function asksH2cUpgrade(headers: HeaderList): boolean {
  return hasToken(headers, 'upgrade', 'h2c') && headers.some(([n]) => n.length === 14 && n.toLowerCase() === 'http2-settings');
}

/** Header fields other than the pseudo-headers, in order; a field whose name HPACK could not know (mid-stream) is
 *  kept as `:missing-N`: never invented, never dropped. */
function h2Headers(h: Http2Headers): HeaderList {
  const out: HeaderList = [];
  for (const f of h.fields) {
    const n = f.name;
    if (n === undefined) out.push([`:missing-${f.missingIndex ?? 0}`, f.value ?? '']);
    else if (n.charCodeAt(0) !== 58) out.push([n, f.value ?? '']);
  }
  return out;
}

function h2Request(h: Http2Headers, _tls: boolean): TraceRequest {
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
