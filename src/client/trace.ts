/**
 * The traced client's record model: nettrace's HTTPTrace (../shared/seeds/nettrace-godoc.txt), field for field.
 *
 * Records are mutable objects filled in by the stages that see each event (resolver, dialer, socket recorder, TLS,
 * HTTP). Times are held as absolute epoch milliseconds with sub-millisecond precision (`Ms`) and turned into
 * nettrace's timestamp strings only when a trace is taken (`TraceRecorder.snapshot`): `"+72ms"` relative to the
 * trace's start, or an absolute RFC 3339 time when the event happened before it (a connection reused from an
 * earlier trace), or `"undefined"` when it never happened.
 */
import { performance } from 'node:perf_hooks';

/** Absolute epoch milliseconds, fractional (performance.timeOrigin + performance.now()). */
export type Ms = number;
/** `tid-N`: unique within the process. */
export type TraceID = string;

let lastTid = 0;
/** nettrace's AtomicCounterID: `tid-` and a counter, in hex as nettrace's sample shows (`tid-a`, `tid-b`). */
export function newTraceId(): TraceID {
  lastTid += 1;
  return `tid-${lastTid.toString(16)}`;
}

export function nowMs(): Ms {
  return performance.timeOrigin + performance.now();
}

export interface AddrTuple {
  srcIP: string;
  srcPort: number;
  dstIP: string;
  dstPort: number;
}

export type SocketOpType = 'read' | 'read-from' | 'write' | 'write-to';

export interface SocketOp {
  type: SocketOpType;
  callAt: Ms;
  returnAt: Ms;
  returnErr?: string;
  remoteAddr?: string;
  dataLen: number;
}

export type TcpState =
  | 'none' | 'syn-sent' | 'sync-recv' | 'established' | 'fin-wait' | 'close-wait' | 'last-ack' | 'time-wait'
  | 'close' | 'syn-sent2';

export interface ConntrackEntry {
  capturedAt: Ms;
  /** `|`-joined flag names (ConntrackFlags) */
  status: string;
  tcpState?: TcpState;
  mark: number;
  addrOrig: AddrTuple;
  addrReply: AddrTuple;
  packetsSent: number;
  packetsRecv: number;
  bytesSent: number;
  bytesRecv: number;
}

export interface ResolverDialTrace {
  dialBeginAt: Ms;
  dialEndAt?: Ms;
  dialErr?: string;
  nameserver: string;
  establishedConn?: TraceID;
}

export interface DialTrace {
  traceID: TraceID;
  dialBeginAt: Ms;
  dialEndAt?: Ms;
  dialErr?: string;
  ctxCloseAt?: Ms;
  dstAddress: string;
  resolverDials: ResolverDialTrace[];
  skippedNameservers: string[];
  sourceIP?: string;
  establishedConn?: TraceID;
}

/** Shared by TCP and UDP connection records: what the socket recorder fills in. */
export interface ConnRecord {
  traceID: TraceID;
  fromDial: TraceID;
  fromResolver?: boolean;
  connCloseAt?: Ms;
  addrTuple: AddrTuple;
  totalSentBytes: number;
  totalRecvBytes: number;
  conntrack?: ConntrackEntry;
  /** why conntrack is absent although withConntrack was asked for (wirelog's addition) */
  conntrackErr?: string;
  /** undefined when socket tracing is off */
  socketOps?: SocketOp[];
}

export interface TcpConnTrace extends ConnRecord {
  handshakeBeginAt: Ms;
  handshakeEndAt?: Ms;
  connected: boolean;
  reused: boolean;
}

export interface UdpConnTrace extends ConnRecord {
  socketCreateAt: Ms;
}

export interface DnsQuestion {
  name: string;
  type: string;
  class: number;
}

export interface DnsAnswer extends DnsQuestion {
  ttl: number;
  resolvedVal?: string;
}

export interface DnsQueryMsg {
  sentAt: Ms;
  id: number;
  recursionDesired: boolean;
  truncated: boolean;
  size: number;
  questions: DnsQuestion[];
  optUDPPayloadSize?: number;
}

export interface DnsReplyMsg {
  recvAt: Ms;
  id: number;
  authoritative: boolean;
  recursionAvailable: boolean;
  truncated: boolean;
  size: number;
  /** DNSRCodeToString: no-error, format-error, server-fail, non-existent-domain, not-implemented, query-refused, unrecognized-rcode */
  rCode: string;
  answers: DnsAnswer[];
  /** why the message could not be parsed past some point (wirelog's addition; absent when it parsed) */
  parseErr?: string;
}

export interface DnsQueryTrace {
  traceID: TraceID;
  fromDial: TraceID;
  connection: TraceID;
  dnsQueryMsgs: DnsQueryMsg[];
  dnsReplyMsgs: DnsReplyMsg[];
}

export interface PeerCert {
  subject: string;
  issuer: string;
  /** absolute times (certificate validity), serialised as RFC 3339 UTC seconds like the seed */
  notBefore: Ms;
  notAfter: Ms;
  isCA: boolean;
}

export interface TlsTunnelTrace {
  traceID: TraceID;
  tcpConn: TraceID;
  handshakeBeginAt: Ms;
  handshakeEndAt?: Ms;
  handshakeErr?: string;
  didResume: boolean;
  peerCerts: PeerCert[];
  cipherSuite: number;
  negotiatedProto?: string;
  serverName: string;
}

export interface HttpHeaderKV {
  fieldName: string;
  fieldVal?: string;
  fieldValLen?: number;
}

export interface HttpReqTrace {
  traceID: TraceID;
  tcpConn?: TraceID;
  tlsTunnel?: TraceID;
  proxyTLSTunnel?: TraceID;
  protoMajor: number;
  protoMinor: number;
  networkProxy?: string;
  reqSentAt: Ms;
  reqMethod: string;
  reqURL: string;
  reqHeader?: HttpHeaderKV[];
  reqContentLen: number;
  reqError?: string;
  respRecvAt?: Ms;
  respStatusCode: number;
  respHeader?: HttpHeaderKV[];
  RespContentLen: number;
}

// ---- JSON shapes (what getTrace returns): the same with timestamps as strings ----

export type Timestamp = string;
type Json<T> = {
  [K in keyof T]: T[K] extends Ms | undefined ? (K extends TimeKeys ? Timestamp : T[K]) : T[K] extends (infer E)[] | undefined ? Json<E>[] : T[K] extends object | undefined ? Json<NonNullable<T[K]>> : T[K];
};
type TimeKeys =
  | 'callAt' | 'returnAt' | 'capturedAt' | 'dialBeginAt' | 'dialEndAt' | 'ctxCloseAt' | 'connCloseAt'
  | 'handshakeBeginAt' | 'handshakeEndAt' | 'socketCreateAt' | 'sentAt' | 'recvAt' | 'notBefore' | 'notAfter'
  | 'reqSentAt' | 'respRecvAt';

export interface NetTraceJson {
  description: string;
  traceBeginAt: Timestamp;
  traceEndAt: Timestamp;
  dials: Json<DialTrace>[];
  tcpConns: Json<TcpConnJson>[];
  udpConns: Json<UdpConnJson>[];
  dnsQueries: Json<DnsQueryTrace>[];
  tlsTunnels: Json<TlsTunnelTrace>[];
}
export interface HttpTraceJson extends NetTraceJson {
  httpRequests: Json<HttpReqTrace>[];
}
type ConnJsonBase<T extends ConnRecord> = Omit<T, 'socketOps'> & { socketTrace?: { socketOps: SocketOp[] } };
type TcpConnJson = ConnJsonBase<TcpConnTrace>;
type UdpConnJson = ConnJsonBase<UdpConnTrace>;

// ---- timestamps ----

/** RFC 3339 with nanoseconds and the local offset, like Go's time.Time JSON (`2022-12-23T10:17:45.260618344+01:00`). */
export function absTimestamp(ms: Ms): string {
  const whole = Math.floor(ms);
  const d = new Date(whole);
  const off = -d.getTimezoneOffset();
  const local = new Date(whole + off * 60_000);
  const nanos = String(Math.round((ms - whole) * 1e6) + (whole % 1000) * 1e6).padStart(9, '0').slice(0, 9);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  const zone = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${p2(Math.floor(Math.abs(off) / 60))}:${p2(Math.abs(off) % 60)}`;
  return `${local.getUTCFullYear()}-${p2(local.getUTCMonth() + 1)}-${p2(local.getUTCDate())}T${p2(local.getUTCHours())}:` +
    `${p2(local.getUTCMinutes())}:${p2(local.getUTCSeconds())}.${nanos}${zone}`;
}

/** Certificate validity: whole seconds in UTC, as the seed prints them (`2022-11-28T08:19:01Z`). */
export function certTimestamp(ms: Ms): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * nettrace's Timestamp JSON: relative whole milliseconds since `begin` (`+72ms`), absolute before it. An event that
 * has not happened (yet) has no timestamp: its field is left out (docs/client.md), never the text "undefined".
 */
export function relTimestamp(ms: Ms | undefined, begin: Ms): Timestamp | undefined {
  if (ms === undefined) return undefined;
  if (ms < begin) return absTimestamp(ms);
  return `+${Math.floor(ms - begin)}ms`;
}

// ---- the recorder ----

/** A TCP connection the client still holds, carried over a clearTrace(). */
interface Carried {
  conn: TcpConnTrace;
  /** true once the carried connection was used again (then it reappears with reused: true) */
  seen: boolean;
}

/**
 * Holds the records of one trace (from creation or the last clear() to now). Stages add records and mutate them
 * as events come; snapshot() turns them into nettrace's JSON.
 */
export class TraceRecorder {
  begin: Ms = nowMs();
  dials: DialTrace[] = [];
  tcpConns: TcpConnTrace[] = [];
  udpConns: UdpConnTrace[] = [];
  dnsQueries: DnsQueryTrace[] = [];
  tlsTunnels: TlsTunnelTrace[] = [];
  httpRequests: HttpReqTrace[] = [];
  /** connections still open at the last clear(); they rejoin the trace, reused, when used again */
  private carried = new Map<TraceID, Carried>();
  /** TLS tunnels over carried connections, rejoining with them */
  private carriedTls = new Map<TraceID, TlsTunnelTrace[]>();

  /**
   * A socket event on `conn`: when the connection was carried over a clear(), it rejoins this trace as reused
   * (with its TLS tunnels). Cheap when not carried.
   */
  touch(conn: TcpConnTrace): void {
    if (this.carried.size === 0) return;
    const c = this.carried.get(conn.traceID);
    if (c === undefined || c.seen) return;
    c.seen = true;
    conn.reused = true;
    this.tcpConns.push(conn);
    const tunnels = this.carriedTls.get(conn.traceID);
    if (tunnels) this.tlsTunnels.push(...tunnels);
  }

  /** Drops every record; open TCP connections are remembered so that they come back, reused, when used again. */
  clear(): void {
    this.begin = nowMs();
    const open = this.tcpConns.filter((c) => c.connected && c.connCloseAt === undefined);
    const prevCarried = [...this.carried.values()].filter((c) => !c.seen && c.conn.connCloseAt === undefined);
    this.carried = new Map();
    const tlsByConn = new Map<TraceID, TlsTunnelTrace[]>();
    for (const t of this.tlsTunnels) {
      const list = tlsByConn.get(t.tcpConn) ?? [];
      list.push(t);
      tlsByConn.set(t.tcpConn, list);
    }
    const carriedTls = new Map<TraceID, TlsTunnelTrace[]>();
    for (const c of [...open.map((conn) => ({ conn, seen: false })), ...prevCarried]) {
      this.carried.set(c.conn.traceID, { conn: c.conn, seen: false });
      // socket operations start afresh in the new trace; totals are the connection's
      if (c.conn.socketOps) c.conn.socketOps = [];
      const tls = tlsByConn.get(c.conn.traceID) ?? this.carriedTls.get(c.conn.traceID);
      if (tls) carriedTls.set(c.conn.traceID, tls);
    }
    this.carriedTls = carriedTls;
    this.dials = [];
    this.tcpConns = [];
    this.udpConns = [];
    this.dnsQueries = [];
    this.tlsTunnels = [];
    this.httpRequests = [];
  }

  /** The trace as nettrace's JSON object (HTTPTrace). Does not stop or clear tracing. */
  snapshot(description: string, endAt: Ms = nowMs()): HttpTraceJson {
    const b = this.begin;
    const t = (ms: Ms | undefined): Timestamp | undefined => relTimestamp(ms, b);
    // key order as nettrace's: ids, then the kind's own times, then close, tuple, (reused), totals
    const conn = <C extends ConnRecord>(c: C, times: (c: C) => Record<string, unknown>, reused?: boolean): Record<string, unknown> => {
      const out: Record<string, unknown> = { traceID: c.traceID, fromDial: c.fromDial };
      if (c.fromResolver) out.fromResolver = true;
      Object.assign(out, times(c));
      out.connCloseAt = t(c.connCloseAt);
      out.addrTuple = { ...c.addrTuple };
      if (reused !== undefined) out.reused = reused;
      out.totalSentBytes = c.totalSentBytes;
      out.totalRecvBytes = c.totalRecvBytes;
      if (c.conntrack) out.conntrack = conntrackJson(c.conntrack, t);
      if (c.conntrackErr) out.conntrackErr = c.conntrackErr;
      if (c.socketOps) out.socketTrace = { socketOps: c.socketOps.map((op) => socketOpJson(op, t)) };
      return omitUndef(out);
    };
    const tcpTimes = (c: TcpConnTrace): Record<string, unknown> => ({
      handshakeBeginAt: t(c.handshakeBeginAt), handshakeEndAt: t(c.handshakeEndAt), connected: c.connected,
    });
    const udpTimes = (c: UdpConnTrace): Record<string, unknown> => ({ socketCreateAt: t(c.socketCreateAt) });
    return {
      description,
      traceBeginAt: absTimestamp(b),
      traceEndAt: t(endAt) ?? absTimestamp(endAt),
      dials: this.dials.map((d) => dialJson(d, t)),
      tcpConns: this.tcpConns.map((c) => conn(c, tcpTimes, c.reused)),
      udpConns: this.udpConns.map((c) => conn(c, udpTimes)),
      dnsQueries: this.dnsQueries.map((q) => ({
        traceID: q.traceID, fromDial: q.fromDial, connection: q.connection,
        dnsQueryMsgs: q.dnsQueryMsgs.map((m) => omitUndef({
          sentAt: t(m.sentAt), id: m.id, recursionDesired: m.recursionDesired, truncated: m.truncated, size: m.size,
          questions: m.questions.map((x) => ({ ...x })), optUDPPayloadSize: m.optUDPPayloadSize || undefined,
        })),
        dnsReplyMsgs: q.dnsReplyMsgs.map((m) => omitUndef({
          recvAt: t(m.recvAt), id: m.id, authoritative: m.authoritative, recursionAvailable: m.recursionAvailable,
          truncated: m.truncated, size: m.size, rCode: m.rCode, answers: m.answers.map((a) => omitUndef({ ...a })),
          parseErr: m.parseErr,
        })),
      })),
      tlsTunnels: this.tlsTunnels.map((x) => omitUndef({
        traceID: x.traceID, tcpConn: x.tcpConn, handshakeBeginAt: t(x.handshakeBeginAt),
        handshakeEndAt: t(x.handshakeEndAt), handshakeErr: x.handshakeErr, didResume: x.didResume,
        peerCerts: x.peerCerts.map((pc) => ({
          subject: pc.subject, issuer: pc.issuer, notBefore: certTimestamp(pc.notBefore),
          notAfter: certTimestamp(pc.notAfter), isCA: pc.isCA,
        })),
        cipherSuite: x.cipherSuite, negotiatedProto: x.negotiatedProto || undefined, serverName: x.serverName,
      })),
      httpRequests: this.httpRequests.map((r) => omitUndef({
        traceID: r.traceID, tcpConn: r.tcpConn ?? '', tlsTunnel: r.tlsTunnel, proxyTLSTunnel: r.proxyTLSTunnel,
        protoMajor: r.protoMajor, protoMinor: r.protoMinor, networkProxy: r.networkProxy,
        reqSentAt: t(r.reqSentAt), reqMethod: r.reqMethod, reqURL: r.reqURL,
        reqHeader: r.reqHeader && r.reqHeader.length > 0 ? r.reqHeader.map((h) => omitUndef({ ...h })) : undefined,
        reqContentLen: r.reqContentLen, reqError: r.reqError, respRecvAt: t(r.respRecvAt),
        respStatusCode: r.respStatusCode,
        respHeader: r.respHeader && r.respHeader.length > 0 ? r.respHeader.map((h) => omitUndef({ ...h })) : undefined,
        RespContentLen: r.RespContentLen,
      })),
    } as unknown as HttpTraceJson;
  }
}

function dialJson(d: DialTrace, t: (ms: Ms | undefined) => Timestamp | undefined): Record<string, unknown> {
  return omitUndef({
    traceID: d.traceID, dialBeginAt: t(d.dialBeginAt), dialEndAt: t(d.dialEndAt), dialErr: d.dialErr,
    ctxCloseAt: t(d.ctxCloseAt), dstAddress: d.dstAddress,
    resolverDials: d.resolverDials.length > 0
      ? d.resolverDials.map((r) => omitUndef({
        dialBeginAt: t(r.dialBeginAt), dialEndAt: t(r.dialEndAt), dialErr: r.dialErr, nameserver: r.nameserver,
        establishedConn: r.establishedConn,
      }))
      : undefined,
    skippedNameservers: d.skippedNameservers.length > 0 ? [...d.skippedNameservers] : undefined,
    sourceIP: d.sourceIP || undefined,
    establishedConn: d.establishedConn,
  });
}

function conntrackJson(c: ConntrackEntry, t: (ms: Ms | undefined) => Timestamp | undefined): Record<string, unknown> {
  return omitUndef({
    capturedAt: t(c.capturedAt), status: c.status, tcpState: c.tcpState, mark: c.mark,
    addrOrig: { ...c.addrOrig }, addrReply: { ...c.addrReply }, packetsSent: c.packetsSent,
    packetsRecv: c.packetsRecv, bytesSent: c.bytesSent, bytesRecv: c.bytesRecv,
  });
}

function socketOpJson(op: SocketOp, t: (ms: Ms | undefined) => Timestamp | undefined): Record<string, unknown> {
  return omitUndef({
    type: op.type, callAt: t(op.callAt), returnAt: t(op.returnAt), returnErr: op.returnErr,
    remoteAddr: op.remoteAddr, dataLen: op.dataLen,
  });
}

/** Go's `omitempty`: keys whose value is undefined are left out; key order is kept. */
function omitUndef<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}
