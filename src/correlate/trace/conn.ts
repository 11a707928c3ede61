/**
 * One traced connection's state, shared by the tracker (table, feed, finish), detection (detect.ts) and the HTTP/1
 * and HTTP/2 adapters (h1.ts, h2.ts); and where the adapters write (the sink and the tracker's counters).
 */
import type {
  TraceConnInfo, TraceRequest, TraceResponse, TraceRole, TraceSink, TraceTrackerStats, TraceTransaction,
} from '../../records.js';
import type { Http1Parser } from '../../proto/http1/index.js';
import type { HttpRequestHead, HttpResponseHead, Incomplete } from '../../records.js';
import type { Http2Parser } from '../../proto/http2.js';

/** What a connection's bytes are: not yet known (held as pending), HTTP/1.x, HTTP/2, or given up on. */
export type ConnProto = 'undecided' | 'h1' | 'h2' | 'not-http';

export interface PendingChunk {
  dir: 'in' | 'out';
  buf: Buffer;
  tsUs: number;
  /** bytes the snaplen cut after this chunk */
  cut: number;
}

/** What an HTTP/1 transaction and an HTTP/2 stream both keep until the record is written. */
export interface TxnState {
  req?: TraceRequest;
  res?: TraceResponse;
  interim: number[];
  firstResTs?: number;
  reqBodyBytes: number;
  resBodyBytes: number;
}

export interface H1Txn extends TxnState {
  reqId: number;
  reqDone: boolean;
  /** the request asked for an h2c upgrade: its lines wait for the answer (101: it becomes HTTP/2 stream 1) */
  h2cUpgrade?: boolean;
  /** a 101 accepted the h2c upgrade */
  switched?: boolean;
  /** the parsed heads: the parser adds the anomalies of their bodies' framing to them after they were reported */
  reqHead?: HttpRequestHead;
  resHead?: HttpResponseHead;
}

export interface H2Stream extends TxnState {
  done: boolean;
}

export class Conn {
  readonly info: TraceConnInfo;
  role: TraceRole | undefined;
  proto: ConnProto = 'undecided';
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

  /** client → server addresses from the role */
  orient(): void {
    const [client, server] = this.role === 'client' ? [this.local, this.remote] : [this.remote, this.local];
    this.info.clientIp = client[0];
    this.info.clientPort = client[1];
    this.info.serverIp = server[0];
    this.info.serverPort = server[1];
    if (this.role !== undefined) this.info.role = this.role;
  }

  /** pending bytes of `dir` from chunk `from` on, joined (the preface may come in pieces) */
  joined(dir: 'in' | 'out', from: number): Buffer {
    const parts: Buffer[] = [];
    for (let i = from; i < this.pending.length; i++) if (this.pending[i].dir === dir) parts.push(this.pending[i].buf);
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }
}

/** Where the adapters write: the tracker's sink and counters. */
export interface TraceOutput {
  readonly sink: TraceSink;
  readonly stats: TraceTrackerStats;
}

/** Writes the transaction of an HTTP/1 exchange or an HTTP/2 stream. */
export function emitTransaction(out: TraceOutput, c: Conn, reqId: number, t: TxnState, incomplete: Incomplete | undefined): void {
  const tx: TraceTransaction = {
    conn: c.info, reqId, req: t.req, res: t.res, interim: t.interim,
    reqBodyBytes: t.reqBodyBytes, resBodyBytes: t.resBodyBytes,
  };
  if (t.req !== undefined && t.firstResTs !== undefined) tx.latencyMs = (t.firstResTs - t.req.tsUs) / 1000;
  if (incomplete !== undefined) tx.incomplete = incomplete;
  else if (t.req === undefined) tx.incomplete = 'no-request';
  out.stats.transactions++;
  out.sink.transaction(tx);
}
