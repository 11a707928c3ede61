/** A two-way TCP conversation with real seq/ack numbers, as TransportSegments, and a sink that records what it gets. */
import type {
  HttpEventSink, HttpRequestEvent, HttpResponseEvent, HttpTransaction, TlsHelloEvent, TransportSegment,
} from '../../src/records.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../../src/records.js';

export interface Ep { ip: string; port: number }

/** Builds the segments of one TCP connection; every segment gets a distinct timestamp (1 ms apart). */
export class Conv {
  readonly segs: TransportSegment[] = [];
  seq: [number, number];
  t: number;
  constructor(readonly client: Ep, readonly server: Ep, isn: [number, number] = [1000, 5000], t0 = 1_700_000_000_000_000) {
    this.seq = [isn[0] >>> 0, isn[1] >>> 0];
    this.t = t0;
  }
  private push(from: 0 | 1, flags: number, payload: Buffer, wireLen = payload.length, seqOverride?: number): TransportSegment {
    const src = from === 0 ? this.client : this.server;
    const dst = from === 0 ? this.server : this.client;
    const seg: TransportSegment = {
      tsUs: (this.t += 1000), ifindex: 1, family: src.ip.includes(':') ? 6 : 4, src: src.ip, dst: dst.ip,
      sport: src.port, dport: dst.port, proto: 6, seq: seqOverride ?? this.seq[from], ack: this.seq[1 - from],
      flags, window: 65535, payload, payloadLen: wireLen,
    };
    this.segs.push(seg);
    return seg;
  }
  handshake(): this {
    this.push(0, TCP_SYN, Buffer.alloc(0));
    this.seq[0] = (this.seq[0] + 1) >>> 0;
    this.push(1, TCP_SYN | TCP_ACK, Buffer.alloc(0));
    this.seq[1] = (this.seq[1] + 1) >>> 0;
    this.push(0, TCP_ACK, Buffer.alloc(0));
    return this;
  }
  /** send data from a side, cut into segments of at most `mss` bytes (or at the given cut points) */
  send(from: 0 | 1, data: string | Buffer, mss = 1448, cuts?: number[]): this {
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    const points = cuts ? [...cuts, buf.length] : [];
    if (!cuts) for (let i = mss; i < buf.length; i += mss) points.push(i);
    if (!cuts) points.push(buf.length);
    let prev = 0;
    for (const p of points) {
      if (p <= prev) continue;
      this.push(from, TCP_ACK | TCP_PSH, Buffer.from(buf.subarray(prev, p)));
      this.seq[from] = (this.seq[from] + p - prev) >>> 0;
      prev = p;
    }
    return this;
  }
  c(data: string | Buffer, mss?: number, cuts?: number[]): this {
    return this.send(0, data, mss, cuts);
  }
  s(data: string | Buffer, mss?: number, cuts?: number[]): this {
    return this.send(1, data, mss, cuts);
  }
  /** a segment whose payload the capture cut to `captured` bytes */
  truncated(from: 0 | 1, data: string, captured: number): this {
    const buf = Buffer.from(data, 'latin1');
    this.push(from, TCP_ACK | TCP_PSH, Buffer.from(buf.subarray(0, captured)), buf.length);
    this.seq[from] = (this.seq[from] + buf.length) >>> 0;
    return this;
  }
  /** the sequence space advances without a segment being captured (a lost segment) */
  lose(from: 0 | 1, data: string | Buffer): this {
    const n = typeof data === 'string' ? Buffer.byteLength(data, 'latin1') : data.length;
    this.seq[from] = (this.seq[from] + n) >>> 0;
    return this;
  }
  fin(from: 0 | 1): this {
    this.push(from, TCP_FIN | TCP_ACK, Buffer.alloc(0));
    this.seq[from] = (this.seq[from] + 1) >>> 0;
    return this;
  }
  rst(from: 0 | 1): this {
    this.push(from, TCP_RST | TCP_ACK, Buffer.alloc(0));
    return this;
  }
  close(): this {
    return this.fin(0).fin(1);
  }
}

export class Recorder implements HttpEventSink {
  requests: HttpRequestEvent[] = [];
  responses: HttpResponseEvent[] = [];
  txs: HttpTransaction[] = [];
  request(ev: HttpRequestEvent): void { this.requests.push(ev); }
  response(ev: HttpResponseEvent): void { this.responses.push(ev); }
  transaction(tx: HttpTransaction): void { this.txs.push(tx); }
  tlsHellos: TlsHelloEvent[] = [];
  tls(ev: TlsHelloEvent): void { this.tlsHellos.push(ev); }
}

