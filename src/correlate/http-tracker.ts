/**
 * HttpTracker: TransportSegments in, HTTP events out. Glues the connection table, per-direction TCP reassembly,
 * the HTTP/1.x parser and in-order request/response pairing.
 *
 * connId: numbered from 1 per tracker in the order in which connections show their first HTTP message (non-HTTP
 * connections use no id). reqId: from 1 per connection, in order of requests (a response with no request seen
 * takes the next id). A transaction is emitted once: when its response body ends (so it carries the body's size;
 * in no-reassembly mode, which sees no bodies, at the final response head), or when the connection closes (FIN both
 * ways: 'no-response', or 'gap' when bytes were lost meanwhile), is reset ('reset'), times out ('timeout'), is
 * evicted ('evicted') or at finish() ('no-response'/'gap'). A response whose head was seen but whose body was cut
 * by any of those is emitted with incomplete 'partial-body'.
 */
import type {
  ConnInfo, HttpEventSink, HttpRequestHead, HttpResponseHead, HttpTransaction, TransportSegment,
} from '../records.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../records.js';
import { flowKey, sideOf, type Endpoint } from '../track/flow.js';
import { TcpStream, DEFAULT_MAX_BUFFER_BYTES, type StreamConsumer } from '../track/reassembly.js';
import { ConnTable, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS, type ConnEntry } from '../track/conntable.js';
import {
  BODY_LENGTH, BODY_NONE, Http1Parser, findHeadEnd, looksLikeHttpStart, parseRequestHead, parseResponseHead,
  requestBodyMode, responseBodyMode, type Http1Error, type Http1Handler,
} from '../proto/http1/index.js';
import { clientSideByPorts, clientSideBySyn, makeConnInfo, type DecidedBy } from './direction.js';

export interface HttpTrackerOptions {
  /** false = httplog mode: parse only segments that begin a message */
  reassembly: boolean;
  /** server ports given with -p */
  servicePorts: Set<number> | 'any';
  /** this host's addresses (printable, same format as TransportSegment.src) */
  localAddrs: Set<string>;
  /** out-of-order bytes buffered per direction, default 256 KiB */
  maxBufferBytes?: number;
  /** connection table bound, default 100000 (oldest idle evicted, counted) */
  maxConnections?: number;
  /** default 120000, checked by tick() */
  idleTimeoutMs?: number;
}

export interface TrackerStats {
  segments: number;
  tcpSegments: number;
  connections: number;
  activeConnections: number;
  requests: number;
  responses: number;
  transactions: number;
  gaps: number;
  gapBytes: number;
  retransmittedBytes: number;
  outOfOrderDropped: number;
  parseErrors: number;
  evicted: number;
  nonHttp: number;
}

/** A request waiting for its final response. */
interface Pending {
  reqId: number;
  /** undefined for a placeholder: an interim response arrived with no request seen */
  req?: HttpRequestHead;
  interim: HttpResponseHead[];
  /** connection gap total when the transaction began */
  gapAt: number;
  reqBodyBytes: number;
}

interface Conn extends ConnEntry {
  key: string;
  a: Endpoint;
  b: Endpoint;
  family: 4 | 6;
  ifname?: string;
  netns?: number;
  clientSide: -1 | 0 | 1;
  decidedBy: DecidedBy;
  info?: ConnInfo;
  /** reassembly mode only */
  sides?: [Side, Side];
  pending: Pending[];
  /** reassembly mode: the transaction whose final response head was seen and whose body is still arriving */
  open?: { tx: HttpTransaction; gapAt: number };
  nextReqId: number;
  /** bytes lost in either direction so far */
  gapTotal: number;
  nonHttp: boolean;
  closed: boolean;
  /** SYN sequence number per side, -1 if none seen */
  synSeq: [number, number];
  hadPayload: boolean;
  /** no-reassembly mode: FIN seen per side, sequence of the last message-start segment per side */
  fin: [boolean, boolean];
  startSeq: [number, number];
}

const SYN_FIN_RST = TCP_SYN | TCP_FIN | TCP_RST;
/** requests waiting for responses per connection; beyond it the oldest is given up ('no-response') */
const MAX_PENDING = 1024;

const FLOW_CACHE_BITS = 12;
const FLOW_CACHE_SLOTS = 1 << FLOW_CACHE_BITS;

/** Cache slot of a port pair, the same for both directions. */
function flowSlot(p: number, q: number): number {
  return Math.imul(p ^ q, 0x9e3779b1) >>> (32 - FLOW_CACHE_BITS);
}

/** Does the segment belong to connection c (either direction, same netns)? Equal to comparing flow keys. */
function sameFlow(c: Conn, seg: TransportSegment): boolean {
  if (c.netns !== seg.netns) return false;
  const a = c.a, b = c.b;
  if (seg.sport === a.port) {
    if (seg.dport === b.port && seg.src === a.ip && seg.dst === b.ip) return true;
  }
  return seg.sport === b.port && seg.dport === a.port && seg.src === b.ip && seg.dst === a.ip;
}

/** One direction in reassembly mode: stream consumer and parser handler in one object. */
class Side implements StreamConsumer, Http1Handler {
  readonly stream: TcpStream;
  readonly parser: Http1Parser;

  constructor(private readonly t: HttpTracker, private readonly c: Conn, private readonly idx: 0 | 1, maxBuf: number) {
    this.stream = new TcpStream(this, t.stats, maxBuf);
    this.parser = new Http1Parser(this);
  }

  onData(buf: Buffer, tsUs: number): void {
    if (this.parser.messages === 0) this.parser.midStream = !this.stream.synSeen;
    this.parser.push(buf, tsUs);
  }
  onGap(bytes: number, tsUs: number): void {
    const s = this.t.stats;
    s.gaps++;
    s.gapBytes += bytes;
    this.c.gapTotal += bytes;
    this.parser.gap(bytes, tsUs);
  }
  onEnd(): void {
    this.parser.end();
  }
  onRequest(head: HttpRequestHead): void {
    this.t._request(this.c, this.idx, head);
  }
  onResponse(head: HttpResponseHead): string | undefined {
    return this.t._response(this.c, this.idx, head);
  }
  onBody(bytes: number): void {
    const c = this.c;
    if (this.idx === c.clientSide) {
      const p = c.pending[c.pending.length - 1];
      if (p !== undefined) p.reqBodyBytes += bytes;
    } else if (c.open !== undefined) c.open.tx.resBodyBytes += bytes;
  }

  onMessageEnd(): void {
    if (this.idx !== this.c.clientSide && this.c.open !== undefined) this.t._responseEnd(this.c);
  }
  onError(_err: Http1Error): void {
    this.t.stats.parseErrors++;
  }
  onNotHttp(): void {
    this.t._notHttp(this.c);
  }
  onTunnel(): void {
    this.c.sides![(1 - this.idx) as 0 | 1].parser.stop();
  }
}

export class HttpTracker {
  readonly stats: TrackerStats = {
    segments: 0, tcpSegments: 0, connections: 0, activeConnections: 0, requests: 0, responses: 0, transactions: 0,
    gaps: 0, gapBytes: 0, retransmittedBytes: 0, outOfOrderDropped: 0, parseErrors: 0, evicted: 0, nonHttp: 0,
  };
  private readonly table: ConnTable<Conn>;
  /**
   * Direct-mapped cache in front of the table, by port pair: most segments find their connection without building
   * the flow-key string. Holds only connections that are in the table (close() clears a closed one's slot), and a
   * hit is checked against both endpoints and the netns, which is exactly what equal flow keys mean.
   */
  private readonly flowCache: Array<Conn | undefined> = new Array<Conn | undefined>(FLOW_CACHE_SLOTS).fill(undefined);
  private readonly reassembly: boolean;
  private readonly maxBuf: number;
  private readonly idleUs: number;
  private nextConnId = 1;
  private readonly evict = (victim: Conn): void => {
    this.stats.evicted++;
    this.close(victim, 'evicted');
  };

  constructor(private readonly opts: HttpTrackerOptions, private readonly sink: HttpEventSink) {
    this.reassembly = opts.reassembly;
    this.maxBuf = opts.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES;
    this.idleUs = (opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS) * 1000;
    this.table = new ConnTable<Conn>(opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
  }

  onSegment(seg: TransportSegment): void {
    const st = this.stats;
    st.segments++;
    if (seg.proto !== 6) {
      st.nonHttp++;
      return;
    }
    st.tcpSegments++;
    if (seg.fragment === true) return; // transport payload incomplete: nothing reliable to parse
    if (this.reassembly) this.segReassembly(seg);
    else this.segNoReassembly(seg);
  }

  /** Expire connections idle longer than idleTimeoutMs at capture time nowUs (a full scan at most once a second). */
  tick(nowUs: number): void {
    this.table.expire(nowUs, this.idleUs, (c) => this.close(c, 'timeout'), 1_000_000);
    this.stats.activeConnections = this.table.size;
  }

  /** End of input: flush every connection and pending transaction. */
  finish(): void {
    this.table.drain((c) => this.close(c, 'no-response'));
    this.stats.activeConnections = 0;
  }

  // ---- reassembly mode ----

  private segReassembly(seg: TransportSegment): void {
    const flags = seg.flags;
    const wireLen = seg.payloadLen;
    if (wireLen === 0 && (flags & SYN_FIN_RST) === 0) return; // pure ACK
    let c = this.lookup(seg, wireLen > 0 || (flags & TCP_SYN) !== 0);
    if (c === undefined) return;
    let side = sideOf(seg, c.a);
    if (flags & TCP_SYN) {
      c = this.onSyn(c, side, seg);
      side = sideOf(seg, c.a);
    }
    if (wireLen > 0) c.hadPayload = true;
    if (!c.nonHttp) {
      const sides = c.sides!;
      // the ACK tells what the sender had received before sending this segment: apply it first.
      // Pure ACKs never get here (no lookup for them, for speed); data and FIN segments carry ACKs too.
      if (flags & TCP_ACK) sides[1 - side].stream.peerAck(seg.ack >>> 0);
      sides[side].stream.segment(seg.seq, flags, seg.payload, wireLen, seg.tsUs);
    }
    if (flags & TCP_RST) this.close(c, 'reset');
    else if (c.nonHttp) {
      if (flags & TCP_FIN) {
        c.fin[side] = true;
        if (c.fin[0] && c.fin[1]) this.close(c, 'no-response');
      }
    } else if (c.sides![0].stream.hasFin && c.sides![1].stream.hasFin) this.close(c, 'no-response');
  }

  // ---- no-reassembly mode ----

  private segNoReassembly(seg: TransportSegment): void {
    const flags = seg.flags;
    const pl = seg.payload;
    const n = pl.length;
    // the hot path: most segments are bodies or ACKs and leave after a byte or two, without a table lookup
    const kind = n > 0 ? looksLikeHttpStart(pl, 0, n) : 0;
    if (kind === 0 && (flags & SYN_FIN_RST) === 0) return;
    let c = this.lookup(seg, kind !== 0 || (flags & TCP_SYN) !== 0);
    if (c === undefined) return;
    let side = sideOf(seg, c.a);
    if (flags & TCP_SYN) {
      c = this.onSyn(c, side, seg);
      side = sideOf(seg, c.a);
    }
    if (kind !== 0 && !c.nonHttp) {
      c.hadPayload = true;
      const seq = seg.seq >>> 0;
      if (c.startSeq[side] === seq) this.stats.retransmittedBytes += seg.payloadLen; // same message start again
      else {
        c.startSeq[side] = seq;
        this.parseSegmentHeads(c, side, pl, kind, seg.tsUs);
      }
    }
    if (flags & TCP_RST) this.close(c, 'reset');
    else if (flags & TCP_FIN) {
      c.fin[side] = true;
      if (c.fin[0] && c.fin[1]) this.close(c, 'no-response');
    }
  }

  /** Parse the head(s) a single segment begins with; pipelined messages follow when their framing is known. */
  private parseSegmentHeads(c: Conn, side: 0 | 1, pl: Buffer, kind: number, tsUs: number): void {
    const n = pl.length;
    let pos = 0;
    for (;;) {
      if (c.clientSide === -1) this.decide(c, kind === 1 ? side : ((1 - side) as 0 | 1), 'content');
      if ((kind === 1) !== (side === c.clientSide)) return; // a start line of the wrong kind for this side
      const he = findHeadEnd(pl, pos, n);
      const complete = he >= 0;
      const e = complete ? he : n;
      let next: number;
      if (kind === 1) {
        const h = parseRequestHead(pl, pos, e, tsUs, complete);
        if (h === undefined) return;
        const mode = requestBodyMode(h);
        this._request(c, side, h);
        if (!complete) return;
        if (mode === BODY_NONE) next = e;
        else if (mode === BODY_LENGTH) next = e + h.contentLength!;
        else return;
      } else {
        const h = parseResponseHead(pl, pos, e, tsUs, complete);
        if (h === undefined) return;
        const method = this._response(c, side, h);
        if (!complete) return;
        const mode = responseBodyMode(h, method);
        if (mode === BODY_NONE) next = e;
        else if (mode === BODY_LENGTH) next = e + h.contentLength!;
        else return;
      }
      pos = next;
      if (pos >= n) return;
      kind = looksLikeHttpStart(pl, pos, n);
      if (kind === 0) return;
    }
  }

  // ---- connections ----

  private lookup(seg: TransportSegment, create: boolean): Conn | undefined {
    const slot = flowSlot(seg.sport, seg.dport);
    let c = this.flowCache[slot];
    if (c !== undefined && sameFlow(c, seg)) {
      this.table.touch(c, seg.tsUs);
      return c;
    }
    const key = flowKey(seg);
    c = this.table.get(key);
    if (c !== undefined) {
      this.table.touch(c, seg.tsUs);
      this.flowCache[slot] = c;
      return c;
    }
    if (!create) return undefined;
    c = this.create(key, seg);
    this.flowCache[slot] = c;
    return c;
  }

  private create(key: string, seg: TransportSegment): Conn {
    const c: Conn = {
      key,
      lastSeenUs: seg.tsUs,
      referenced: false,
      a: { ip: seg.src, port: seg.sport },
      b: { ip: seg.dst, port: seg.dport },
      family: seg.family,
      clientSide: -1,
      decidedBy: 'content',
      pending: [],
      nextReqId: 0,
      gapTotal: 0,
      nonHttp: false,
      closed: false,
      synSeq: [-1, -1],
      hadPayload: false,
      fin: [false, false],
      startSeq: [-1, -1],
    };
    if (seg.ifname !== undefined) c.ifname = seg.ifname;
    if (seg.netns !== undefined) c.netns = seg.netns;
    if (this.reassembly) c.sides = [new Side(this, c, 0, this.maxBuf), new Side(this, c, 1, this.maxBuf)];
    const byPort = clientSideByPorts(seg.sport, seg.dport, this.opts.servicePorts);
    if (byPort !== -1) this.decide(c, byPort, 'port');
    this.table.add(key, c, this.evict);
    this.stats.connections++;
    this.stats.activeConnections = this.table.size;
    return c;
  }

  /** A SYN or SYN-ACK: decides the client; a new SYN on a used 4-tuple starts a new connection. */
  private onSyn(c: Conn, side: 0 | 1, seg: TransportSegment): Conn {
    const ack = (seg.flags & TCP_ACK) !== 0;
    const seq = seg.seq >>> 0;
    if (!ack) {
      const prev = c.synSeq[side];
      if (prev === -1 ? c.hadPayload : prev !== seq) {
        // the 4-tuple is reused: the old connection is over
        this.close(c, 'no-response');
        c = this.create(c.key, seg);
        side = 0;
      }
    }
    if (c.synSeq[side] === -1) c.synSeq[side] = seq;
    if (c.info === undefined && c.decidedBy !== 'syn') this.decide(c, clientSideBySyn(side, ack), 'syn');
    return c;
  }

  private decide(c: Conn, clientSide: 0 | 1, by: DecidedBy): void {
    c.clientSide = clientSide;
    c.decidedBy = by;
    const sides = c.sides;
    if (sides !== undefined) {
      const cp = sides[clientSide].parser;
      const sp = sides[(1 - clientSide) as 0 | 1].parser;
      if (cp.messages === 0) cp.role = 1;
      if (sp.messages === 0) sp.role = 2;
    }
  }

  private connInfo(c: Conn): ConnInfo {
    let info = c.info;
    if (info === undefined) {
      info = makeConnInfo(
        this.nextConnId++, c.a, c.b, c.clientSide as 0 | 1, c.family, c.decidedBy, this.opts.localAddrs, c.ifname, c.netns,
      );
      c.info = info;
    }
    return info;
  }

  /** @internal called by the parser side */
  _notHttp(c: Conn): void {
    if (c.nonHttp) return;
    c.nonHttp = true;
    this.stats.nonHttp++;
    if (c.sides !== undefined) {
      c.sides[0].parser.stop();
      c.sides[1].parser.stop();
    }
  }

  /** @internal a request head is complete */
  _request(c: Conn, side: 0 | 1, req: HttpRequestHead): void {
    if (c.clientSide === -1) this.decide(c, side, 'content');
    const conn = this.connInfo(c);
    this.stats.requests++;
    const reqId = ++c.nextReqId;
    // bound the queue: a server that never answers (or answers where we cannot see) must not grow it forever
    if (c.pending.length >= MAX_PENDING) this.flushOldest(c);
    c.pending.push({ reqId, req, interim: [], gapAt: c.gapTotal, reqBodyBytes: 0 });
    this.sink.request({ conn, reqId, req });
  }

  /** @internal a response head is complete; returns the method of the request it answers */
  _response(c: Conn, side: 0 | 1, res: HttpResponseHead): string | undefined {
    if (c.clientSide === -1) this.decide(c, (1 - side) as 0 | 1, 'content');
    const conn = this.connInfo(c);
    this.stats.responses++;
    if (res.status < 200 && res.status !== 101) {
      let p = c.pending[0];
      if (p === undefined) {
        p = { reqId: ++c.nextReqId, interim: [], gapAt: c.gapTotal, reqBodyBytes: 0 };
        c.pending.push(p);
      }
      p.interim.push(res);
      const ev = p.req === undefined ? { conn, reqId: p.reqId, res } : { conn, reqId: p.reqId, req: p.req, res };
      this.sink.response(ev);
      return p.req?.method;
    }
    const p = c.pending.shift();
    const reqId = p === undefined ? ++c.nextReqId : p.reqId;
    const req = p?.req;
    this.sink.response(req === undefined ? { conn, reqId, res } : { conn, reqId, req, res });
    const tx: HttpTransaction = {
      conn,
      reqId,
      res,
      interim: p === undefined ? [] : p.interim,
      gapBytes: p === undefined ? 0 : c.gapTotal - p.gapAt,
      reqBodyBytes: p === undefined ? 0 : p.reqBodyBytes,
      resBodyBytes: 0,
    };
    if (req !== undefined) {
      tx.req = req;
      tx.latencyMs = (res.tsUs - req.tsUs) / 1000;
    } else tx.incomplete = 'no-request';
    if (c.sides === undefined) {
      // no-reassembly mode sees no bodies: the transaction is complete at its head
      this.stats.transactions++;
      this.sink.transaction(tx);
    } else {
      // emitted when the response body ends, so that it carries the body's size (see _responseEnd)
      if (c.open !== undefined) this._responseEnd(c, 'partial-body');
      c.open = { tx, gapAt: p === undefined ? c.gapTotal : p.gapAt };
    }
    return req?.method;
  }

  /** @internal the response body of the open transaction ended (or never will: `incomplete` says why) */
  _responseEnd(c: Conn, incomplete?: string): void {
    const open = c.open!;
    c.open = undefined;
    const tx = open.tx;
    tx.gapBytes = c.gapTotal - open.gapAt;
    if (incomplete !== undefined && tx.incomplete === undefined) tx.incomplete = incomplete;
    this.stats.transactions++;
    this.sink.transaction(tx);
  }

  private flushOldest(c: Conn): void {
    const p = c.pending.shift()!;
    const tx: HttpTransaction = {
      conn: this.connInfo(c), reqId: p.reqId, interim: p.interim, gapBytes: c.gapTotal - p.gapAt,
      reqBodyBytes: p.reqBodyBytes, resBodyBytes: 0, incomplete: 'no-response',
    };
    if (p.req !== undefined) tx.req = p.req;
    this.stats.transactions++;
    this.sink.transaction(tx);
  }

  /** Close a connection: flush its streams (holes become gaps), then its pending transactions. */
  private close(c: Conn, reason: string): void {
    if (c.closed) return;
    c.closed = true;
    if (c.sides !== undefined && !c.nonHttp) {
      c.sides[0].stream.flush(c.lastSeenUs);
      c.sides[1].stream.flush(c.lastSeenUs);
    }
    if (!this.reassembly && c.info === undefined && (c.synSeq[0] !== -1 || c.synSeq[1] !== -1)) {
      // no-reassembly mode never looks at non-start segments: a handshaken connection with no HTTP start is not HTTP
      this.stats.nonHttp++;
    }
    // a response whose body was still arriving: its head is known, its body was cut
    if (c.open !== undefined) this._responseEnd(c, 'partial-body');
    const pending = c.pending;
    c.pending = [];
    for (const p of pending) {
      const conn = this.connInfo(c);
      const gapBytes = c.gapTotal - p.gapAt;
      const tx: HttpTransaction = {
        conn,
        reqId: p.reqId,
        interim: p.interim,
        gapBytes,
        reqBodyBytes: p.reqBodyBytes,
        resBodyBytes: 0,
        incomplete: p.req === undefined ? 'no-request' : reason === 'no-response' && gapBytes > 0 ? 'gap' : reason,
      };
      if (p.req !== undefined) tx.req = p.req;
      this.stats.transactions++;
      this.sink.transaction(tx);
    }
    if (this.table.get(c.key) === c) this.table.delete(c.key);
    const slot = flowSlot(c.a.port, c.b.port);
    if (this.flowCache[slot] === c) this.flowCache[slot] = undefined;
    this.stats.activeConnections = this.table.size;
  }
}
