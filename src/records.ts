/**
 * Record types shared by every stage. Stages are: source → decode → track → proto → correlate → sinks.
 * Each stage imports only from the stages before it and from this file; this file imports only the type of the
 * error codes (src/errors.ts, which imports nothing).
 */
import type { WlErrorCode } from './errors.js';

/** A link-layer frame as read from a capture file. `data` is a view valid only during the callback. */
export interface Frame {
  /** wall-clock microseconds since the Unix epoch */
  tsUs: number;
  /** DLT_/LINKTYPE_ value, e.g. 1 Ethernet, 101 raw IP, 113 Linux SLL, 276 SLL2, 0 BSD null */
  linkType: number;
  data: Buffer;
  /** length of the packet on the wire (>= data.length when truncated by the capture's snaplen) */
  origLen: number;
  /** pcapng interface id, or 0 */
  ifindex: number;
  ifname?: string;
  direction?: Direction;
}

export type Direction = 'in' | 'out';

/**
 * One TCP or UDP segment, decoded down to the transport payload. Produced by decodeFrame() (capture files)
 * and by the sensor reader (live). `payload` is a view valid only during the callback: a stage that keeps
 * bytes beyond it copies them.
 */
export interface TransportSegment {
  tsUs: number;
  /** nanoseconds past tsUs (0..999), when the source has them (the sensor); the L4 records' packet times */
  nsRem?: number;
  ifindex: number;
  ifname?: string;
  direction?: Direction;
  /** network namespace inode when known (live capture) */
  netns?: number;
  family: 4 | 6;
  /** printable addresses: dotted quad, or RFC 5952 IPv6 */
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: 6 | 17;
  /** TCP only (0 for UDP) */
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** captured payload bytes */
  payload: Buffer;
  /** payload length on the wire; > payload.length when the snaplen cut it */
  payloadLen: number;
  /** IPv4 fragment: transport header may be absent or payload incomplete */
  fragment?: boolean;
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

/** httplog's four kinds: CQ/CR a remote client's request to a server on this host and its response;
 *  SQ/SR this host as a client and the remote server's response. */
export type LineKind = 'CQ' | 'CR' | 'SQ' | 'SR';

/** One endpoint pair, client → server. */
export interface ConnInfo {
  connId: number;
  clientIp: string;
  clientPort: number;
  serverIp: string;
  serverPort: number;
  family: 4 | 6;
  /** 'CQ' when the server is on this host, 'SQ' when this host is the client of a remote server */
  kind: 'CQ' | 'SQ';
  ifname?: string;
  netns?: number;
  /** how the client side was decided: 'syn' (handshake seen), 'port' (service port), 'content' (who spoke a request) */
  decidedBy: 'syn' | 'port' | 'content';
  /**
   * `<client SYN seq>_<server SYN-ACK seq>` when the handshake was seen: the same on every device the connection
   * crosses, NAT included (NAT rewrites addresses, not sequence numbers)
   */
  connTraceId?: string;
  /** who is behind the namespace (src/source/attribution.ts), when attributed */
  place?: NetnsPlace;
}

/** What is known of a network namespace besides its inode: its `ip netns` name, the container and pod inside. */
export interface NetnsPlace {
  netnsName: string | null;
  containerId: string | null;
  podUid: string | null;
}

/** One device an HTTP exchange crossed (docs/netlog.md): when its request's and its response's first bytes passed. */
export interface HttpHop {
  ifname?: string;
  ifindex: number;
  netns?: number;
  netnsName?: string | null;
  /** null when this device did not carry the request's first byte (or it was not captured there) */
  reqTsUs: number | null;
  respTsUs: number | null;
}

export type HeaderList = Array<[name: string, value: string]>;

/**
 * Departures from the HTTP/1 grammar found in a message, as bits of one number (no allocation per message): what
 * Zeek calls "weirds". Names and meanings in docs/http1.md; HTTP_ANOMALY_NAMES gives the name of bit i.
 */
export const HttpAnomaly = {
  CRLF_BEFORE_MESSAGE: 1 << 0,
  JUNK_BEFORE_MESSAGE: 1 << 1,
  BAD_START_LINE: 1 << 2,
  NO_TARGET: 1 << 3,
  BAD_VERSION: 1 << 4,
  EXTRA_WHITESPACE: 1 << 5,
  SPACE_IN_TARGET: 1 << 6,
  UNKNOWN_METHOD: 1 << 7,
  BARE_LF: 1 << 8,
  OBS_FOLD: 1 << 9,
  BAD_HEADER_NAME: 1 << 10,
  HEADER_WITHOUT_COLON: 1 << 11,
  HEAD_TOO_LARGE: 1 << 12,
  TE_AND_CL: 1 << 13,
  TE_NOT_CHUNKED_LAST: 1 << 14,
  TE_IN_HTTP10: 1 << 15,
  CL_INVALID: 1 << 16,
  CL_MISMATCH: 1 << 17,
  CL_REPEATED: 1 << 18,
  CHUNK_OVERFLOW: 1 << 19,
  BAD_CHUNK: 1 << 20,
  /** HTTP/2: a header block decoded with an HPACK table not known complete (docs/http2.md) */
  HPACK_UNRELIABLE: 1 << 21,
} as const;

/** The anomaly names of docs/http1.md, index i naming bit 1 << i of HttpAnomaly. */
export const HTTP_ANOMALY_NAMES: readonly string[] = [
  'crlf-before-message', 'junk-before-message', 'bad-start-line', 'no-target', 'bad-version', 'extra-whitespace',
  'space-in-target', 'unknown-method', 'bare-lf', 'obs-fold', 'bad-header-name', 'header-without-colon',
  'head-too-large', 'te-and-cl', 'te-not-chunked-last', 'te-in-http10', 'cl-invalid', 'cl-mismatch', 'cl-repeated',
  'chunk-overflow', 'bad-chunk', 'hpack-unreliable',
];

/** Names of the bits set in `bits`, in bit order, appended to `out` unless already there. */
export function anomalyNames(bits: number, out: string[] = []): string[] {
  for (let i = 0; bits !== 0; i++, bits >>>= 1) {
    if ((bits & 1) !== 0 && !out.includes(HTTP_ANOMALY_NAMES[i]!)) out.push(HTTP_ANOMALY_NAMES[i]!);
  }
  return out;
}

export interface HttpRequestHead {
  tsUs: number;
  method: string;
  /** the request target as sent; null when the request line has none (`GET HTTP/1.1`) */
  uri: string | null;
  /** 'HTTP/1.1', 'HTTP/1.0'; 'HTTP/0.9' for a simple request; an odd version as sent (`bad-version`) */
  version: string;
  headers: HeaderList;
  host?: string;
  userAgent?: string;
  contentLength?: number;
  contentType?: string;
  chunked: boolean;
  /** bytes of the head, request line through the blank line */
  headLen: number;
  /** HttpAnomaly bits; framing facts (TE not chunked last, bad Content-Length) are among them */
  anomalies?: number;
  /** offset of the head's first byte in its direction's byte stream (stream parsers; gaps counted) */
  streamOffset?: number;
  /** TCP sequence number of the head's first byte, when the stream's sequence space is known */
  seq?: number;
}

export interface HttpResponseHead {
  tsUs: number;
  /** as sent; 'HTTP/0.9' for the answer to a simple request (no status line on the wire) */
  version: string;
  /** 0 when there is no status line (HTTP/0.9) */
  status: number;
  reason: string;
  headers: HeaderList;
  contentLength?: number;
  contentType?: string;
  chunked: boolean;
  headLen: number;
  /** HttpAnomaly bits */
  anomalies?: number;
  /** see HttpRequestHead */
  streamOffset?: number;
  seq?: number;
}

/** A request as it is seen (text sink: CQ/SQ line). */
export interface HttpRequestEvent {
  conn: ConnInfo;
  reqId: number;
  req: HttpRequestHead;
}

/** A final or interim response as it is seen (text sink: CR/SR line). `req` is the paired request if known. */
export interface HttpResponseEvent {
  conn: ConnInfo;
  reqId: number;
  req?: HttpRequestHead;
  res: HttpResponseHead;
}

/**
 * Why a transaction was written without all of it (the JSON `incomplete` field, every command and store):
 * - `no-response`: the request was seen, its response never was (connection ended, or at exit)
 * - `no-request`: a response whose request was not seen (capture started mid-connection, or lost)
 * - `gap`: bytes of the exchange were lost (capture gap) before it could end
 * - `timeout`: the connection was idle longer than the tracker waits
 * - `reset`: the connection or stream was reset (RST, RST_STREAM)
 * - `evicted`: given up to make room (too many connections, streams or pending requests)
 * - `partial-body`: the response head was seen, its body was cut short by one of the above
 */
export type Incomplete = 'no-response' | 'no-request' | 'gap' | 'timeout' | 'reset' | 'evicted' | 'partial-body';

/** One request/response transaction (JSON lines sink, store). Emitted when the final response has ended (body
 *  included; at its head where bodies are not followed), or when the connection ends or times out, or at exit,
 *  with whatever is known. */
export interface HttpTransaction {
  conn: ConnInfo;
  reqId: number;
  req?: HttpRequestHead;
  res?: HttpResponseHead;
  /** interim 1xx responses seen before the final one */
  interim: HttpResponseHead[];
  /** request's first byte → response's first byte, milliseconds */
  latencyMs?: number;
  /** why the transaction is incomplete */
  incomplete?: Incomplete;
  /** bytes missing in either stream while this transaction was in flight */
  gapBytes: number;
  reqBodyBytes: number;
  resBodyBytes: number;
  /** HttpAnomaly bits of the transaction itself: why a message that was skipped could not be logged */
  anomalies?: number;
  /** the devices the exchange crossed, in path order (network logs); absent when no device paths are kept */
  hops?: HttpHop[];
}

/** A TLS connection's ClientHello as the capture tracker saw it (docs/schema.md "TLS records"). */
export interface TlsHelloEvent {
  conn: ConnInfo;
  /** time of the hello's first byte */
  tsUs: number;
  /** server_name's host_name */
  sni?: string;
  /** ALPN protocol names offered, in order ([] when none) */
  alpn: string[];
  /** the highest version offered (supported_versions, else the legacy version), e.g. 0x0304 */
  version: number;
  /** cipher suites offered */
  cipherSuites: number;
}

/** What the HTTP stages hand to a sink. */
export interface HttpEventSink {
  request(ev: HttpRequestEvent): void;
  response(ev: HttpResponseEvent): void;
  transaction(tx: HttpTransaction): void;
  /** optional: a TLS connection's ClientHello (capture); a sink without it ignores TLS connections */
  tls?(ev: TlsHelloEvent): void;
}

/** One packet of an L4 record: its header fields as this device saw them. */
export interface L4Packet {
  tsUs: number;
  /** nanoseconds past tsUs (0..999; 0 when the source has µs only) */
  nsRem: number;
  /** transmitted by this device (the local end sent it), else received */
  tx: boolean;
  /** TCP flag bits; -1 for UDP */
  flags: number;
  seq: number;
  ack: number;
  /** payload bytes on the wire */
  len: number;
  /** raw (unscaled) TCP window */
  win: number;
}

export type L4ConnSide = 'client' | 'server' | 'unknown';

/** Packet, payload-byte and retransmission counts of a chunk, transmitted and received by the local end. */
export interface L4Counters {
  txPackets: number;
  rxPackets: number;
  txBytes: number;
  rxBytes: number;
  txRetrans: number;
  rxRetrans: number;
}

/**
 * One chunk of one connection on one device (netns + ifindex + 5-tuple): the L4 record of docs/schema.md.
 * Counters and packets are the chunk's; the handshake times and ids are the connection's, as known so far.
 */
export interface L4Chunk extends L4Counters {
  proto: 'tcp' | 'udp';
  clientIp: string;
  clientPort: number;
  serverIp: string;
  serverPort: number;
  /** the local end (docs/schema.md "L4 records") */
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
  /** the local end's role */
  connSide: L4ConnSide;
  ifname?: string;
  ifindex: number;
  netns?: number;
  chunkId: number;
  chunkSyn: boolean;
  chunkFin: boolean;
  packets: L4Packet[];
  txSeqMin: number | null;
  txSeqMax: number | null;
  rxSeqMin: number | null;
  rxSeqMax: number | null;
  rttUs: number | null;
  handshakeUs: number | null;
  closeUs: number | null;
  connTraceId: string | null;
  innerTraceId: string;
  /** who is behind the device's namespace, when attributed */
  place?: NetnsPlace;
}

/** Where the L4 tracker sends its records. */
export interface L4Sink {
  l4(chunk: L4Chunk): void;
}

/** Counters from the sensor (live capture). */
export interface SensorStats {
  tsUs: number;
  packetsSeen: number;
  packetsMatched: number;
  packetsSent: number;
  ringbufDrops: number;
  recordsWritten: number;
  /** of ringbufDrops, packets that began an HTTP/1 request or a response: messages lost in the kernel */
  droppedRequestHeads: number;
  droppedResponseHeads: number;
}

/** A structured decode error: never thrown through the hot path, returned or counted. */
export interface DecodeErrorInfo {
  /** stable code from the WL_ERR table (src/errors.ts); the message is for people */
  code: WlErrorCode;
  layer: string;
  offset: number;
  required?: number;
  actual?: number;
  message: string;
}

/* `wirelog trace`: what the trace tracker makes of one process's syscall and TLS events, and the sinks it feeds. */

export type TraceRole = 'server' | 'client';
export type TraceProtocol = 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2.0';

/** One traced connection, client → server addresses whatever the role. */
export interface TraceConnInfo {
  connId: number;
  pid: number;
  comm: string;
  fd: number;
  role: TraceRole;
  tls: boolean;
  /** 'HTTP/2.0' for HTTP/2 connections; HTTP/1 connections take the first request's version */
  protocol: TraceProtocol;
  family: 0 | 4 | 6;
  clientIp: string;
  clientPort: number;
  serverIp: string;
  serverPort: number;
  /** the connection's start was not seen */
  midStream: boolean;
}

export interface TraceRequest {
  tsUs: number;
  protocol: TraceProtocol;
  /** HTTP/2 stream id, else undefined */
  streamId?: number;
  method?: string;
  /** request target (`:path`) */
  path?: string;
  /** Host, or `:authority` */
  authority?: string;
  /** `:scheme`; for HTTP/1 'https' on TLS, else 'http' */
  scheme?: string;
  /** every other header in order received, names as sent (HTTP/1 Host left out; HTTP/2 pseudo-headers left out,
   *  unknown names as `:missing-N`) */
  headers: HeaderList;
  userAgent?: string;
  contentLength?: number;
  contentType?: string;
  /** trailer fields (HTTP/2 trailing HEADERS, HTTP/1 chunked trailers), names as sent, once received */
  trailers?: HeaderList;
  /** HttpAnomaly bits (HTTP/1) */
  anomalies?: number;
}

export interface TraceResponse {
  tsUs: number;
  protocol: TraceProtocol;
  streamId?: number;
  status?: number;
  reason: string;
  /** non-pseudo headers in order */
  headers: HeaderList;
  contentLength?: number;
  contentType?: string;
  trailers?: HeaderList;
  /** HttpAnomaly bits (HTTP/1) */
  anomalies?: number;
}

export interface TraceRequestEvent {
  conn: TraceConnInfo;
  /** HTTP/1: request number on the connection from 1; HTTP/2: the stream id */
  reqId: number;
  req: TraceRequest;
}

export interface TraceResponseEvent {
  conn: TraceConnInfo;
  reqId: number;
  req?: TraceRequest;
  res: TraceResponse;
}

/** Trailer fields of a request (`request: true`) or a response, after its body. */
export interface TraceTrailersEvent {
  conn: TraceConnInfo;
  reqId: number;
  request: boolean;
  req?: TraceRequest;
  res?: TraceResponse;
  trailers: HeaderList;
}

export interface TraceTransaction {
  conn: TraceConnInfo;
  reqId: number;
  req?: TraceRequest;
  res?: TraceResponse;
  interim: number[];
  latencyMs?: number;
  incomplete?: Incomplete;
  reqBodyBytes: number;
  resBodyBytes: number;
}

export interface TraceSink {
  request(ev: TraceRequestEvent): void;
  response(ev: TraceResponseEvent): void;
  /** optional: a sink without it sees trailers only in the transaction's req/res */
  trailers?(ev: TraceTrailersEvent): void;
  transaction(tx: TraceTransaction): void;
}

/** The trace tracker's counters, for the summary line. */
export interface TraceTrackerStats {
  dataEvents: number;
  connEvents: number;
  procEvents: number;
  requests: number;
  responses: number;
  transactions: number;
  connections: number;
  /** syscall bytes of TLS connections (ciphertext), not parsed */
  tlsCiphertextBytes: number;
  /** bytes not parsed: no protocol recognised, undecidable role, or after a parser stopped */
  unparsedBytes: number;
  /** bytes the snaplen cut from events (a gap in the stream) */
  truncatedBytes: number;
  /** HTTP/1 and HTTP/2 parse errors */
  parseErrors: number;
  /** pending bytes dropped while waiting for a protocol decision (limit reached) */
  pendingDropped: number;
}
