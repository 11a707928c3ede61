/**
 * `wirelog trace`: the sensor's per-process events (TraceData / TraceConn / TraceProc) → per-connection directional
 * byte streams → protocol detection (detect.ts: HTTP/1.x or HTTP/2) → the HTTP/1 or HTTP/2 adapter (h1.ts, h2.ts)
 * over the proto parsers → request / response / transaction records for the h2olog and JSON lines sinks.
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
import type { TraceConnInfo, TraceSink, TraceTrackerStats } from '../../records.js';
import type { TraceConn, TraceData, TraceProc } from '../../decode/sensor.js';
import { Conn, type TraceOutput } from './conn.js';
import { decide } from './detect.js';
import { finishH1, makeH1, pushH1 } from './h1.js';
import { finishH2, makeH2, pushH2 } from './h2.js';

export interface TraceTrackerOptions {
  /** bytes held per connection while its protocol or role is undecided (default 256 KiB) */
  maxPending?: number;
}

const MAX_PENDING = 256 * 1024;

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
  /** what the adapters write to */
  private readonly out: TraceOutput;

  constructor(sink: TraceSink, opts: TraceTrackerOptions = {}) {
    this.maxPending = opts.maxPending ?? MAX_PENDING;
    this.out = { sink, stats: this.stats };
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
      if (old !== undefined) this.finish(old);
      return;
    }
    if (c.kind === 'accept' || c.kind === 'connect') {
      // accept: the event's fd is the new socket (ret carries it too)
      const fd = c.kind === 'accept' && c.ret >= 0 ? c.ret : c.fd;
      const old = this.byFd.get(c.pid)?.get(fd);
      if (old !== undefined) this.finish(old); // the fd was reused
      const conn = this.open(undefined, c.pid, c.comm, fd, c.family, c.localAddr, c.localPort, c.remoteAddr, c.remotePort);
      conn.role = c.kind === 'accept' ? 'server' : 'client';
      conn.sawStart = true;
      conn.orient();
    }
  }

  proc(p: TraceProc): void {
    this.stats.procEvents++;
    if (p.kind !== 'exit') return;
    // every connection of the process is over
    for (const c of this.conns) if (c.pid === p.pid) this.finish(c);
  }

  data(d: TraceData): void {
    this.stats.dataEvents++;
    const cut = d.len > d.payload.length ? d.len - d.payload.length : 0;
    if (d.source === 'syscall') {
      if (d.fd < 0) return;
      let conn = this.byFd.get(d.pid)?.get(d.fd);
      if (conn !== undefined && d.family !== 0 && conn.info.family !== 0 && !sameTuple(conn, d)) {
        this.finish(conn); // the fd now names another socket
        conn = undefined;
      }
      if (conn === undefined) {
        conn = this.open(undefined, d.pid, d.comm, d.fd, d.family, d.localAddr, d.localPort, d.remoteAddr, d.remotePort);
      } else if (conn.info.family === 0 && d.family !== 0) {
        setTuple(conn, d.family, d.localAddr, d.localPort, d.remoteAddr, d.remotePort);
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
      setTuple(conn, d.family, d.localAddr, d.localPort, d.remoteAddr, d.remotePort);
    }
    conn.info.tls = true;
    if (conn.source === 'syscall') restart(conn); // what was parsed so far was ciphertext (not flagged yet)
    conn.source = 'tls';
    this.feed(conn, d.direction, d.payload, d.direction === 'out' ? d.enterUs : d.tsUs, cut);
  }

  /** End of the trace: every open connection is finished, pending transactions written as incomplete. */
  end(): void {
    for (const c of [...this.conns.values()]) this.finish(c);
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

  private feed(c: Conn, dir: 'in' | 'out', payload: Buffer, tsUs: number, cut: number): void {
    if (c.proto === 'not-http') {
      this.stats.unparsedBytes += payload.length;
      return;
    }
    if (c.proto === 'undecided') {
      if (c.pendingBytes + payload.length > this.maxPending) {
        this.stats.pendingDropped += payload.length;
        return;
      }
      c.pending.push({ dir, buf: Buffer.from(payload), tsUs, cut }); // the view dies with the callback
      c.pendingBytes += payload.length;
      const d = decide(c, this.stats);
      if (d === undefined) return;
      c.info.midStream = d.midStream;
      c.info.connId = this.nextConnId++;
      this.stats.connections++;
      if (d.proto === 'h2') makeH2(this.out, c, d.midStream);
      else makeH1(this.out, c, d.midStream);
      const chunks = c.pending;
      c.pending = [];
      c.pendingBytes = 0;
      for (const ch of chunks) this.push(c, ch.dir, ch.buf, ch.tsUs, ch.cut);
      return;
    }
    this.push(c, dir, payload, tsUs, cut);
  }

  private push(c: Conn, dir: 'in' | 'out', buf: Buffer, tsUs: number, cut: number): void {
    const fromClient = (dir === 'out') === (c.role === 'client');
    if (c.proto === 'h1') {
      const rest = pushH1(this.out, c, fromClient, buf, tsUs, cut);
      // an h2c upgrade's 101 ended in this chunk: the rest of it (and the cut) is HTTP/2
      if (rest !== undefined) pushH2(this.out, c, fromClient, rest, tsUs, cut);
    } else if (c.proto === 'h2') {
      pushH2(this.out, c, fromClient, buf, tsUs, cut);
    } else {
      this.stats.unparsedBytes += buf.length;
    }
  }

  private finish(c: Conn): void {
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
    if (c.proto === 'undecided') this.stats.unparsedBytes += c.pendingBytes;
    if (c.proto === 'h1') finishH1(this.out, c);
    else if (c.proto === 'h2') finishH2(this.out, c);
  }
}

function sameTuple(c: Conn, d: TraceData): boolean {
  return c.local[0] === d.localAddr && c.local[1] === d.localPort && c.remote[0] === d.remoteAddr && c.remote[1] === d.remotePort;
}

function setTuple(c: Conn, family: 0 | 4 | 6, la: string, lp: number, ra: string, rp: number): void {
  c.info.family = family;
  c.local = [la, lp];
  c.remote = [ra, rp];
  c.orient();
}

/** Drop parsers and state (TLS plaintext replaces syscall bytes that were taken for cleartext). */
function restart(c: Conn): void {
  c.reqParser?.stop();
  c.resParser?.stop();
  c.c2s?.stop();
  c.s2c?.stop();
  c.reqParser = c.resParser = c.c2s = c.s2c = undefined;
  c.h1Queue = [];
  c.h2Streams.clear();
  c.pending = [];
  c.pendingBytes = 0;
  c.proto = 'undecided';
}
