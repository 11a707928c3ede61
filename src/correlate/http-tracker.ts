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
  ConnInfo, HttpEventSink, HttpRequestHead, HttpResponseHead, HttpTransaction, Incomplete, TlsHelloEvent, TransportSegment,
} from '../records.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../records.js';
import { flowKey, sideOf, type Endpoint } from '../track/flow.js';
import { TcpStream, DEFAULT_MAX_BUFFER_BYTES, type StreamConsumer } from '../track/reassembly.js';
import { ConnTable, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS, type ConnEntry } from '../track/conntable.js';
import {
  BODY_LENGTH, BODY_NONE, Http1Parser, findHeadEnd, looksLikeHttpStart, parseRequestHead, parseResponseHead,
  requestBodyMode, responseBodyMode, NOT_HTTP_SKIP_LIMIT, type Http1Error, type Http1Handler,
} from '../proto/http1/index.js';
import { clientSideByPorts, clientSideBySyn, makeConnInfo, type DecidedBy } from './direction.js';
import { looksLikeHttp2ServerStart, matchHttp2Preface } from '../proto/http2.js';
import { looksLikeClientHello, parseClientHello, MAX_CLIENT_HELLO } from '../proto/tls.js';
import { H2Capture } from './h2-capture.js';
import { acceptsH2cUpgrade, applyH2cSettings, asksH2cUpgrade } from './h2-common.js';
import type { WlErrorCode } from '../errors.js';

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
  /** told of every give-up (for --verbose): a message or its framing skipped, a connection judged not HTTP */
  onGiveUp?: (g: HttpGiveUp) => void;
}

/** One give-up of the HTTP parsers, for diagnostics. Counted in TrackerStats whether or not anyone listens. */
export interface HttpGiveUp {
  /** 'skip': a message (or its body's framing) could not be parsed; 'not-http': the connection is not HTTP */
  kind: 'skip' | 'not-http';
  /** client and server as far as known (the first packet's sender as client when not known) */
  client: Endpoint;
  server: Endpoint;
  /** whose bytes: the client's (requests) or the server's (responses) */
  stream: 'request' | 'response';
  /** stream offset of the failing byte ('skip'), or bytes skipped ('not-http') */
  offset: number;
  code: WlErrorCode;
  message: string;
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
  /** give-ups of the HTTP parsers, all codes (parseErrorsByCode has them by code) */
  parseErrors: number;
  parseErrorsByCode: Record<string, number>;
  /** messages that could not be parsed and were skipped (one per give-up on a message's head) */
  messagesSkipped: number;
  /** bytes the parsers passed over without logging them as part of a message */
  bytesSkipped: number;
  /** connections judged not HTTP (no message in either direction; TLS connections are counted apart) */
  connectionsNotHttp: number;
  /** HTTP/2 connections (prior knowledge or h2c upgrade), streams written as records, frames skipped (framing
   *  errors, frames lost to a gap), header blocks decoded with an HPACK table not known complete */
  h2Connections: number;
  h2Streams: number;
  h2FramesSkipped: number;
  h2UnreliableBlocks: number;
  /** connections whose client started with a TLS ClientHello that parsed (one TLS record each) */
  tlsConnections: number;
  /**
   * connections that started like a TLS ClientHello but were not logged as TLS (the hello did not parse, or the
   * server answered in plaintext): they are parsed as HTTP/1 from their first byte; by code
   */
  tlsNotParsed: number;
  tlsErrorsByCode: Record<string, number>;
  evicted: number;
  /** segments that are not TCP, and connections judged not HTTP */
  nonHttp: number;
}

/** What a connection's parsers skipped before it showed any HTTP message: counted once it does, dropped if never. */
interface Deferred {
  errors: Array<{ err: Http1Error; idx: 0 | 1 }>;
  bytes: number;
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
  /**
   * a request the parser skipped (HttpAnomaly bits saying why): it keeps its place in the order so that the
   * server's answer to it (usually 400) is logged against it; with no answer it is counted, not logged
   */
  skipped?: number;
}

/** What a reassembled connection speaks, decided from its first bytes (reassembly mode; no-reassembly: always H1). */
const L7_UNDECIDED = 0;
const L7_H1 = 1;
const L7_H2 = 2;
/** a TLS ClientHello is being read */
const L7_TLS = 3;
/** nothing more of it is parsed (TLS after its hello) */
const L7_DONE = 4;
/** a whole ClientHello was read: the server's first bytes confirm TLS, or show a plaintext (HTTP) server */
const L7_TLS_HELLO = 5;
/**
 * A server's first bytes that could be HTTP/2 SETTINGS are held (copied) until the client's first bytes tell the
 * protocol, up to this many; past it the connection is taken as HTTP/1.
 */
const HOLD_LIMIT = 64 * 1024;

/** A chunk held while the protocol is undecided. */
interface Held {
  buf: Buffer;
  tsUs: number;
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
  /**
   * A final response that came while the request it answers was still arriving (a server refusing a huge head
   * with 400/431 before reading it all): it waits for that request's head, then is logged with it.
   */
  early?: { tx: HttpTransaction; ended: boolean; incomplete?: Incomplete };
  /** close() for a reset is flushing the streams: a response read until close is cut, not complete */
  resetting?: boolean;
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
  /** an HTTP message was parsed in either direction */
  hadMessage: boolean;
  /** give-ups and skipped bytes held until the connection shows a message (undefined once it has) */
  deferred?: Deferred;
  /** reassembly mode: L7_* */
  l7: number;
  /** bytes held per side while l7 is undecided, or the client's TLS hello bytes (side 0 or 1 as the client) */
  held: [Held[], Held[]] | undefined;
  heldBytes: number;
  h2: H2Capture | undefined;
  /** an accepted h2c upgrade: stream 1's request, interim responses (the 101), request body, gap mark */
  h2c: { req: HttpRequestHead; interim: HttpResponseHead[]; reqBodyBytes: number; gapAt: number } | undefined;
  /** a parsed ClientHello waiting for the server's first bytes */
  tlsHello: { tsUs: number; alpn: string[]; version: number; cipherSuites: number; sni: string | undefined } | undefined;
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
    if (this.c.l7 !== L7_H1) {
      this.t._l7Data(this.c, this.idx, buf, tsUs);
      return;
    }
    this.h1Data(buf, tsUs);
  }
  /** bytes for the HTTP/1 parser (the connection is HTTP/1, or HTTP/1 until an h2c upgrade) */
  h1Data(buf: Buffer, tsUs: number): void {
    if (this.parser.messages === 0) this.parser.midStream = !this.stream.synSeen;
    const base = this.parser.streamOffset;
    this.parser.push(buf, tsUs);
    // an h2c upgrade's 101 ended in this chunk: its rest is the server's first HTTP/2 bytes
    if (this.c.l7 === L7_H2 && this.parser.tunnelAt >= 0 && this.parser.tunnelAt - base < buf.length) {
      this.c.h2!.push(false, buf.subarray(this.parser.tunnelAt - base), tsUs);
    }
  }
  onGap(bytes: number, tsUs: number): void {
    const s = this.t.stats;
    s.gaps++;
    s.gapBytes += bytes;
    const c = this.c;
    c.gapTotal += bytes;
    if (c.l7 !== L7_H1) {
      this.t._l7Gap(c, this.idx, bytes);
      if (c.l7 !== L7_H1) return;
    }
    this.parser.gap(bytes, tsUs);
  }
  onEnd(): void {
    if (this.c.l7 === L7_TLS) this.t._tlsFailed(this.c, 'WL_ERR_TLS_TRUNCATED');
    else if (this.c.l7 === L7_TLS_HELLO) this.t._tlsConfirmed(this.c); // no answer seen: a TLS client all the same
    if (this.c.l7 === L7_UNDECIDED) this.t._decideH1(this.c);
    if (this.c.l7 !== L7_H1) return;
    this.parser.end(this.c.resetting);
  }
  /** the TCP sequence number of a byte of this stream (its offset 0 is just after the SYN, or the first segment seen) */
  seqAt(streamOffset: number): number {
    const st = this.stream;
    return (st.isn + (st.synSeen ? 1 : 0) + streamOffset) >>> 0;
  }
  onRequest(head: HttpRequestHead): void {
    if (head.streamOffset !== undefined) head.seq = this.seqAt(head.streamOffset);
    this.t._request(this.c, this.idx, head);
  }
  onResponse(head: HttpResponseHead): string | undefined {
    if (head.streamOffset !== undefined) head.seq = this.seqAt(head.streamOffset);
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
  onError(err: Http1Error): void {
    this.t._giveUp(this.c, this.idx, err);
  }
  onSkipped(bytes: number): void {
    this.t._skipped(this.c, bytes);
  }
  onNotHttp(): void {
    this.t._notHttp(this.c);
  }
  expectsSimpleResponse(): boolean {
    return this.c.pending[0]?.req?.version === 'HTTP/0.9';
  }
  onTunnel(): void {
    this.c.sides![(1 - this.idx) as 0 | 1].parser.stop();
    if (this.c.h2c !== undefined) this.t._startH2c(this.c, this.idx);
  }
}

export class HttpTracker {
  readonly stats: TrackerStats = {
    segments: 0, tcpSegments: 0, connections: 0, activeConnections: 0, requests: 0, responses: 0, transactions: 0,
    gaps: 0, gapBytes: 0, retransmittedBytes: 0, outOfOrderDropped: 0, parseErrors: 0, parseErrorsByCode: {},
    messagesSkipped: 0, bytesSkipped: 0, connectionsNotHttp: 0, evicted: 0, nonHttp: 0,
    h2Connections: 0, h2Streams: 0, h2FramesSkipped: 0, h2UnreliableBlocks: 0, tlsConnections: 0,
    tlsNotParsed: 0, tlsErrorsByCode: {},
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
      hadMessage: false,
      // set later, declared now: every Conn keeps one hidden class (a shape change at close costs in the hot path)
      deferred: undefined,
      early: undefined,
      resetting: false,
      l7: this.reassembly ? L7_UNDECIDED : L7_H1,
      held: undefined,
      heldBytes: 0,
      h2: undefined,
      h2c: undefined,
      tlsHello: undefined,
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
      const client = c.clientSide as 0 | 1;
      const syn = c.synSeq[client], synAck = c.synSeq[1 - client]!;
      if (syn !== -1 && synAck !== -1) info.connTraceId = `${syn}_${synAck}`;
      c.info = info;
    }
    return info;
  }

  /**
   * @internal a direction skipped NOT_HTTP_SKIP_LIMIT bytes before any start line (its parser has stopped): with no
   * message in either direction, the connection is not HTTP and nothing more of it is parsed
   */
  _notHttp(c: Conn): void {
    if (c.hadMessage) return; // the other direction speaks HTTP: only this one is given up (its bytes are counted)
    this.judgeNotHttp(c, NOT_HTTP_SKIP_LIMIT);
  }

  private judgeNotHttp(c: Conn, bytes: number): void {
    if (c.nonHttp) return;
    c.nonHttp = true;
    c.deferred = undefined;
    this.stats.nonHttp++;
    this.stats.connectionsNotHttp++;
    if (c.sides !== undefined) {
      c.sides[0].parser.stop();
      c.sides[1].parser.stop();
    }
    // placeholders for skipped "requests" of a connection that is not HTTP are not transactions
    c.pending = c.pending.filter((p) => p.skipped === undefined);
    const onGiveUp = this.opts.onGiveUp;
    if (onGiveUp !== undefined) {
      const [client, server] = this.endpoints(c);
      onGiveUp({ kind: 'not-http', client, server, stream: 'request', offset: bytes, code: 'WL_ERR_HTTP_NOT_HTTP', message: `${bytes} bytes without an HTTP message` });
    }
  }

  /**
   * Is stream idx the client's (its messages requests)? Before the client is known, a stream that has not shown
   * responses is taken as the client's.
   */
  private isRequestStream(c: Conn, idx: 0 | 1): boolean {
    return c.clientSide !== -1 ? idx === c.clientSide : c.sides?.[idx]?.parser.role !== 2;
  }

  /** client and server as far as known (a → b when not decided) */
  private endpoints(c: Conn): [Endpoint, Endpoint] {
    return c.clientSide === 1 ? [c.b, c.a] : [c.a, c.b];
  }

  /** @internal bytes a parser passed over */
  _skipped(c: Conn, bytes: number): void {
    if (c.nonHttp) return;
    if (!c.hadMessage) (c.deferred ??= { errors: [], bytes: 0 }).bytes += bytes;
    else this.stats.bytesSkipped += bytes;
  }

  /** @internal a parser gave up on a message or on its framing (it resynchronises) */
  _giveUp(c: Conn, idx: 0 | 1, err: Http1Error): void {
    if (err.messageSkipped) {
      if (this.isRequestStream(c, idx)) {
        // a request the server received but we could not parse: it keeps its place for the server's answer
        if (c.pending.length >= MAX_PENDING) this.flushOldest(c);
        c.pending.push({ reqId: ++c.nextReqId, interim: [], gapAt: c.gapTotal, reqBodyBytes: 0, skipped: err.anomaly });
      } else {
        // a response we could not parse: the oldest waiting request gets no response, and says why
        const p = c.pending.shift();
        if (p !== undefined && p.skipped === undefined) this.emitUnanswered(c, p, 'no-response', err.anomaly);
      }
    }
    if (c.nonHttp) return;
    if (!c.hadMessage) (c.deferred ??= { errors: [], bytes: 0 }).errors.push({ err, idx });
    else this.countGiveUp(c, idx, err);
  }

  private countGiveUp(c: Conn, idx: 0 | 1, err: Http1Error): void {
    const st = this.stats;
    st.parseErrors++;
    st.parseErrorsByCode[err.code] = (st.parseErrorsByCode[err.code] ?? 0) + 1;
    if (err.messageSkipped) st.messagesSkipped++;
    const onGiveUp = this.opts.onGiveUp;
    if (onGiveUp !== undefined) {
      const [client, server] = this.endpoints(c);
      const stream = this.isRequestStream(c, idx) ? 'request' : 'response';
      onGiveUp({ kind: 'skip', client, server, stream, offset: err.offset, code: err.code, message: err.message });
    }
  }

  /** The connection showed an HTTP message: what was held back is counted now. */
  private sawMessage(c: Conn): void {
    c.hadMessage = true;
    const d = c.deferred;
    if (d === undefined) return;
    c.deferred = undefined;
    this.stats.bytesSkipped += d.bytes;
    for (const { err, idx } of d.errors) this.countGiveUp(c, idx, err);
  }

  // ---- HTTP/2 and TLS (reassembly mode): what a connection speaks, from its first bytes ----

  /** @internal a side's bytes while the connection is not (or no longer) plain HTTP/1 */
  _l7Data(c: Conn, idx: 0 | 1, buf: Buffer, tsUs: number): void {
    switch (c.l7) {
      case L7_H2:
        c.h2!.push(idx === c.clientSide, buf, tsUs);
        return;
      case L7_TLS:
        if (idx === c.clientSide) this.tlsData(c, idx, buf, tsUs);
        else {
          // a TLS server says nothing before the whole ClientHello: these bytes were not TLS after all
          this.hold(c, idx, buf, tsUs);
          this._tlsFailed(c, 'WL_ERR_TLS_SERVER_FIRST');
        }
        return;
      case L7_TLS_HELLO:
        this.tlsAfterHello(c, idx, buf, tsUs);
        return;
      case L7_DONE:
        return;
      default:
        this.sniff(c, idx, buf, tsUs);
    }
  }

  /** @internal bytes lost while not plain HTTP/1 (undecided: decided as HTTP/1 first, and the gap is its) */
  _l7Gap(c: Conn, idx: 0 | 1, bytes: number): void {
    switch (c.l7) {
      case L7_H2:
        c.h2!.gap(idx === c.clientSide, bytes);
        return;
      case L7_TLS:
        this._tlsFailed(c, 'WL_ERR_TLS_GAP');
        return;
      case L7_TLS_HELLO:
        this._tlsConfirmed(c);
        return;
      case L7_DONE:
        return;
      default:
        this._decideH1(c);
    }
  }

  private hold(c: Conn, idx: 0 | 1, buf: Buffer, tsUs: number): void {
    const held = (c.held ??= [[], []]);
    held[idx].push({ buf: Buffer.from(buf), tsUs });
    c.heldBytes += buf.length;
  }

  /** the side's held bytes and buf, as one buffer */
  private joined(c: Conn, idx: 0 | 1, buf: Buffer): Buffer {
    const h = c.held?.[idx];
    if (h === undefined || h.length === 0) return buf;
    return Buffer.concat([...h.map((x) => x.buf), buf]);
  }

  private sniff(c: Conn, idx: 0 | 1, buf: Buffer, tsUs: number): void {
    const cs = c.clientSide;
    const b = this.joined(c, idx, buf);
    if (cs === -1 || cs === idx) {
      const pre = matchHttp2Preface(b, 0, b.length);
      const tls = looksLikeClientHello(b, 0, b.length);
      if (pre === 2) {
        if (cs === -1) this.decide(c, idx, 'content');
        this.hold(c, idx, buf, tsUs);
        this.startH2(c);
        return;
      }
      if (tls === 1 && b.length >= 6) {
        if (cs === -1) this.decide(c, idx, 'content');
        c.l7 = L7_TLS;
        const other = c.held?.[(1 - idx) as 0 | 1];
        if (other !== undefined) other.length = 0; // the server's bytes of a TLS connection are not parsed
        this.tlsData(c, idx, buf, tsUs);
        return;
      }
      if (pre === 1 || tls === 1) {
        this.hold(c, idx, buf, tsUs); // a prefix of either: wait for more
        return;
      }
    } else if (c.heldBytes + buf.length <= HOLD_LIMIT && (b.length < 9 ? b[0] === 0 : looksLikeHttp2ServerStart(b, 0))) {
      // the server's SETTINGS may come before the client's preface is seen: held for the HTTP/2 parser
      this.hold(c, idx, buf, tsUs);
      return;
    }
    this._decideH1(c);
    c.sides![idx].h1Data(buf, tsUs);
  }

  /** @internal the connection is HTTP/1: what was held goes to the HTTP/1 parsers */
  _decideH1(c: Conn): void {
    if (c.l7 !== L7_UNDECIDED) return;
    c.l7 = L7_H1;
    const held = c.held;
    c.held = undefined;
    c.heldBytes = 0;
    if (held === undefined) return;
    for (const i of [0, 1] as const) for (const h of held[i]) c.sides![i].h1Data(h.buf, h.tsUs);
  }

  /** HTTP/2 with prior knowledge: the client's held bytes start with the preface */
  private startH2(c: Conn): void {
    const client = c.clientSide as 0 | 1;
    const server = (1 - client) as 0 | 1;
    const held = c.held!;
    c.held = undefined;
    c.heldBytes = 0;
    this.makeH2(c, 0, 0);
    for (const h of held[client]) c.h2!.push(true, h.buf, h.tsUs);
    for (const h of held[server]) c.h2!.push(false, h.buf, h.tsUs);
  }

  private makeH2(c: Conn, clientBase: number, serverBase: number): void {
    c.l7 = L7_H2;
    if (!c.hadMessage) this.sawMessage(c);
    this.stats.h2Connections++;
    const sides = c.sides!;
    c.h2 = new H2Capture({
      sink: this.sink,
      stats: this.stats,
      conn: () => this.connInfo(c),
      seqAt: (client, off) => sides[client ? c.clientSide as 0 | 1 : (1 - c.clientSide) as 0 | 1].seqAt(off),
      gapTotal: () => c.gapTotal,
    }, clientBase, serverBase);
  }

  /** @internal an accepted h2c upgrade's 101 head ended on side idx (the server's): HTTP/2 from here on */
  _startH2c(c: Conn, idx: 0 | 1): void {
    const up = c.h2c!;
    c.h2c = undefined;
    const client = c.sides![(1 - idx) as 0 | 1].parser;
    this.makeH2(c, client.streamOffset, c.sides![idx].parser.tunnelAt);
    applyH2cSettings(up.req.headers, c.h2!.clientParser);
    c.h2!.upgraded(up.req, up.interim, up.reqBodyBytes, up.gapAt);
  }

  /** the client's bytes of a TLS connection until its ClientHello parses */
  private tlsData(c: Conn, idx: 0 | 1, buf: Buffer, tsUs: number): void {
    this.hold(c, idx, buf, tsUs);
    const held = c.held![idx];
    const r = parseClientHello(held.map((h) => h.buf));
    if (r.status === 'incomplete') {
      if (c.heldBytes > MAX_CLIENT_HELLO + 4096) this._tlsFailed(c, 'WL_ERR_TLS_LENGTH');
      return;
    }
    if (r.status === 'error') {
      this._tlsFailed(c, r.error.code);
      return;
    }
    // the server's first bytes confirm it (a TLS record), or show a plaintext server (an HTTP port sent a hello)
    const hello = r.hello;
    c.tlsHello = {
      tsUs: held[0]!.tsUs, alpn: hello.alpn, version: hello.maxVersion, cipherSuites: hello.cipherSuites, sni: hello.sni,
    };
    c.l7 = L7_TLS_HELLO;
  }

  /** bytes after a whole ClientHello: the server's first ones decide; the client's are held meanwhile */
  private tlsAfterHello(c: Conn, idx: 0 | 1, buf: Buffer, tsUs: number): void {
    if (idx === c.clientSide) {
      if (c.heldBytes + buf.length > HOLD_LIMIT) this._tlsConfirmed(c);
      else this.hold(c, idx, buf, tsUs);
      return;
    }
    // a TLS record: change_cipher_spec (20), alert (21), handshake (22), application data (23), version major 3
    const b = this.joined(c, idx, buf);
    if (b[0]! >= 20 && b[0]! <= 23 && (b.length < 2 || b[1] === 3)) {
      this._tlsConfirmed(c);
      return;
    }
    this.hold(c, idx, buf, tsUs);
    this._tlsFailed(c, 'WL_ERR_TLS_PLAINTEXT_ANSWER');
  }

  /** @internal the connection is TLS: its ClientHello is logged, nothing more of it is parsed */
  _tlsConfirmed(c: Conn): void {
    const h = c.tlsHello!;
    c.tlsHello = undefined;
    c.held = undefined;
    c.heldBytes = 0;
    c.l7 = L7_DONE;
    c.nonHttp = true; // nothing more of it is parsed; not counted as not HTTP: it is TLS
    c.deferred = undefined;
    this.stats.tlsConnections++;
    const ev: TlsHelloEvent = { conn: this.connInfo(c), tsUs: h.tsUs, alpn: h.alpn, version: h.version, cipherSuites: h.cipherSuites };
    if (h.sni !== undefined) ev.sni = h.sni;
    this.sink.tls?.(ev);
  }

  /**
   * @internal A start that looked like TLS was not a ClientHello we could read (it did not parse, the server spoke
   * first or answered in plaintext, bytes were lost, or the connection ended first): counted by code (not as an HTTP parse error), and the
   * connection's bytes so far go to the HTTP/1 parsers as for any other connection (junk skipped, not HTTP...).
   */
  _tlsFailed(c: Conn, code: WlErrorCode): void {
    c.tlsHello = undefined;
    const st = this.stats;
    st.tlsNotParsed++;
    st.tlsErrorsByCode[code] = (st.tlsErrorsByCode[code] ?? 0) + 1;
    c.l7 = L7_UNDECIDED;
    this._decideH1(c);
  }

  /** @internal a request head is complete */
  _request(c: Conn, side: 0 | 1, req: HttpRequestHead): void {
    if (c.clientSide === -1) this.decide(c, side, 'content');
    if (!c.hadMessage) this.sawMessage(c);
    const conn = this.connInfo(c);
    this.stats.requests++;
    const early = c.early;
    if (early !== undefined && c.pending.length === 0) {
      // the server answered this request before all of its head had arrived: they are one transaction
      c.early = undefined;
      const tx = early.tx;
      tx.req = req;
      tx.latencyMs = (tx.res!.tsUs - req.tsUs) / 1000;
      tx.incomplete = early.incomplete;
      this.sink.request({ conn, reqId: tx.reqId, req });
      if (early.ended) {
        this.stats.transactions++;
        this.sink.transaction(tx);
      }
      return;
    }
    const reqId = ++c.nextReqId;
    // bound the queue: a server that never answers (or answers where we cannot see) must not grow it forever
    if (c.pending.length >= MAX_PENDING) this.flushOldest(c);
    c.pending.push({ reqId, req, interim: [], gapAt: c.gapTotal, reqBodyBytes: 0 });
    this.sink.request({ conn, reqId, req });
  }

  /** @internal a response head is complete; returns the method of the request it answers */
  _response(c: Conn, side: 0 | 1, res: HttpResponseHead): string | undefined {
    if (c.clientSide === -1) this.decide(c, (1 - side) as 0 | 1, 'content');
    if (!c.hadMessage) this.sawMessage(c);
    const conn = this.connInfo(c);
    this.stats.responses++;
    if (res.status >= 100 && res.status < 200 && res.status !== 101) { // interim (status 0: an HTTP/0.9 answer is final)
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
    if (c.early !== undefined) this.flushEarly(c); // an earlier one's request never came
    if (c.sides !== undefined && p?.req !== undefined && p.req.version === 'HTTP/1.1' && acceptsH2cUpgrade(res.status, res.headers) &&
      asksH2cUpgrade(p.req.headers)) {
      // h2c upgrade accepted: the request is HTTP/2 stream 1 (its record is written by the HTTP/2 adapter); the
      // parser stops after this head and onTunnel starts HTTP/2 (_startH2c)
      const conn2 = this.connInfo(c);
      this.sink.response({ conn: conn2, reqId: 1, req: p.req, res });
      c.h2c = { req: p.req, interim: [...p.interim, res], reqBodyBytes: p.reqBodyBytes, gapAt: p.gapAt };
      for (const q of c.pending.splice(0)) this.emitUnanswered(c, q, 'no-response'); // requests after it: none can be answered now
      return p.req.method;
    }
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
    if (p?.skipped !== undefined) tx.anomalies = p.skipped;
    if (c.sides === undefined) {
      // no-reassembly mode sees no bodies: the transaction is complete at its head
      this.stats.transactions++;
      this.sink.transaction(tx);
    } else {
      // emitted when the response body ends, so that it carries the body's size (see _responseEnd)
      if (c.open !== undefined) this._responseEnd(c, 'partial-body');
      c.open = { tx, gapAt: p === undefined ? c.gapTotal : p.gapAt };
      // no request waiting, but one is arriving: this answers it (held until its head is complete)
      if (p === undefined && c.sides[1 - side]!.parser.inHead) c.early = { tx, ended: false };
    }
    return req?.method;
  }

  /** @internal the response body of the open transaction ended (or never will: `incomplete` says why) */
  _responseEnd(c: Conn, incomplete?: Incomplete): void {
    const open = c.open!;
    c.open = undefined;
    const tx = open.tx;
    tx.gapBytes = c.gapTotal - open.gapAt;
    if (c.early?.tx === tx) {
      c.early.ended = true; // logged with its request, once that head is complete
      c.early.incomplete = incomplete;
      return;
    }
    if (incomplete !== undefined && tx.incomplete === undefined) tx.incomplete = incomplete;
    this.stats.transactions++;
    this.sink.transaction(tx);
  }

  /** An early response whose request never completed: logged as it is (no-request). */
  private flushEarly(c: Conn): void {
    const early = c.early!;
    c.early = undefined;
    if (!early.ended) return; // still the open transaction: it ends (and is logged) as any other
    this.stats.transactions++;
    this.sink.transaction(early.tx);
  }

  private flushOldest(c: Conn): void {
    const p = c.pending.shift()!;
    if (p.skipped !== undefined && p.interim.length === 0) return; // a skipped request nobody answered: counted
    this.emitUnanswered(c, p, 'no-response');
  }

  /** A waiting request's transaction, without a final response (`incomplete` says why). */
  private emitUnanswered(c: Conn, p: Pending, incomplete: Incomplete, anomalies = 0): void {
    const tx: HttpTransaction = {
      conn: this.connInfo(c), reqId: p.reqId, interim: p.interim, gapBytes: c.gapTotal - p.gapAt,
      reqBodyBytes: p.reqBodyBytes, resBodyBytes: 0, incomplete: p.req === undefined ? 'no-request' : incomplete,
    };
    if (p.req !== undefined) tx.req = p.req;
    const bits = (p.skipped ?? 0) | anomalies;
    if (bits !== 0) tx.anomalies = bits;
    this.stats.transactions++;
    this.sink.transaction(tx);
  }

  /** Close a connection: flush its streams (holes become gaps), then its pending transactions. */
  private close(c: Conn, reason: Incomplete): void {
    if (c.closed) return;
    c.closed = true;
    if (c.sides !== undefined && !c.nonHttp) {
      c.resetting = reason === 'reset';
      c.sides[0].stream.flush(c.lastSeenUs);
      c.sides[1].stream.flush(c.lastSeenUs);
    }
    if (!this.reassembly && c.info === undefined && (c.synSeq[0] !== -1 || c.synSeq[1] !== -1)) {
      // no-reassembly mode never looks at non-start segments: a handshaken connection with no HTTP start is not HTTP
      this.stats.nonHttp++;
    }
    c.h2?.finish(reason);
    c.held = undefined;
    // a response whose body was still arriving: its head is known, its body was cut
    if (c.open !== undefined) this._responseEnd(c, 'partial-body');
    if (c.early !== undefined) this.flushEarly(c);
    const pending = c.pending;
    c.pending = [];
    for (const p of pending) {
      if (p.skipped !== undefined && p.interim.length === 0) continue; // a skipped request nobody answered: counted
      const gapBytes = c.gapTotal - p.gapAt;
      this.emitUnanswered(c, p, reason === 'no-response' && gapBytes > 0 ? 'gap' : reason);
    }
    // bytes, but not one start line either way, and not judged yet: not HTTP
    const sides = c.sides;
    if (sides !== undefined && !c.nonHttp && !c.hadMessage && c.hadPayload && !sides[0].parser.sawHttp && !sides[1].parser.sawHttp) {
      this.judgeNotHttp(c, sides[0].parser.skippedBytes + sides[1].parser.skippedBytes);
    }
    if (this.table.get(c.key) === c) this.table.delete(c.key);
    const slot = flowSlot(c.a.port, c.b.port);
    if (this.flowCache[slot] === c) this.flowCache[slot] = undefined;
    this.stats.activeConnections = this.table.size;
  }
}
