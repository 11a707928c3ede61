/**
 * One direction of a TCP connection turned back into a byte stream.
 *
 * - In-order fast path: a segment that starts exactly at the next expected sequence number is handed to the
 *   consumer as the caller's Buffer view, without copying.
 * - Out-of-order segments are copied (only then) into a small sorted list, bounded by `maxBufferBytes`; when the
 *   bound is exceeded the first hole is skipped and reported as a gap, never glued over silently.
 * - Retransmissions and overlaps are trimmed against the next expected sequence number and counted.
 * - Sequence numbers are 32-bit and wrap: every comparison is a signed 32-bit difference.
 * - A segment cut by the capture's snaplen (`captured < wireLen`) delivers its captured bytes, then a gap of the
 *   missing tail: the consumer knows exactly how many bytes it did not see.
 */
import { TCP_FIN, TCP_SYN } from '../records.js';

/** Receives the reassembled stream of one direction. */
export interface StreamConsumer {
  /** in-order bytes; `buf` is valid only during the call */
  onData(buf: Buffer, tsUs: number): void;
  /** `bytes` of the stream are missing here (hole skipped, or snaplen cut) */
  onGap(bytes: number, tsUs: number): void;
  /** the stream reached its FIN (or was closed by flush()) */
  onEnd(): void;
}

/** Counters a stream adds to (the tracker's stats object satisfies this). */
export interface ReassemblyCounters {
  retransmittedBytes: number;
  outOfOrderDropped: number;
}

export const DEFAULT_MAX_BUFFER_BYTES = 256 * 1024;

interface OooSegment {
  seq: number;
  /** captured bytes (copied) */
  data: Buffer;
  /** bytes on the wire: > data.length when the snaplen cut the segment */
  wireLen: number;
  tsUs: number;
}

/** signed distance a - b in 32-bit sequence space */
function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export class TcpStream {
  /** a first segment (SYN or data) has fixed the sequence space */
  started = false;
  /** the stream's SYN was seen, so it is known to start at its beginning */
  synSeen = false;
  /** initial sequence number (from SYN, or first segment seen for mid-stream starts) */
  isn = 0;
  /** next expected sequence number */
  nextSeq = 0;
  /** FIN seen at finSeq (the sequence number the FIN occupies) */
  hasFin = false;
  finSeq = 0;
  /** all data up to FIN delivered (or flushed): nothing more is delivered */
  ended = false;
  /** bytes delivered to the consumer (captured bytes; gaps excluded) */
  deliveredBytes = 0;
  private ooo: OooSegment[] = [];
  private oooBytes = 0;

  constructor(
    private readonly consumer: StreamConsumer,
    private readonly counters: ReassemblyCounters,
    private readonly maxBufferBytes: number = DEFAULT_MAX_BUFFER_BYTES,
  ) {}

  /** Bytes currently held out of order. */
  get bufferedBytes(): number {
    return this.oooBytes;
  }

  /**
   * Feed one segment of this direction. `payload` holds the captured bytes (a view valid only during the call),
   * `wireLen` the payload length on the wire.
   */
  segment(seq: number, flags: number, payload: Buffer, wireLen: number, tsUs: number): void {
    if (flags & TCP_SYN) {
      if (!this.started) {
        this.started = true;
        this.synSeen = true;
        this.isn = seq >>> 0;
        this.nextSeq = (seq + 1) >>> 0;
      }
      seq = (seq + 1) >>> 0; // SYN occupies one sequence number; data (TFO) follows it
    } else if (!this.started) {
      // mid-stream start: the first segment seen fixes the sequence space
      this.started = true;
      this.isn = seq >>> 0;
      this.nextSeq = seq >>> 0;
    }

    if (wireLen > 0) {
      if (this.ended) {
        // after FIN or flush: old data is a retransmission, anything beyond cannot be delivered any more
        const over = seqDiff((seq + wireLen) >>> 0, this.nextSeq);
        if (over <= 0) this.counters.retransmittedBytes += wireLen;
        else {
          this.counters.retransmittedBytes += wireLen - Math.min(over, wireLen);
          this.counters.outOfOrderDropped += Math.min(over, wireLen);
        }
      } else {
        const off = seqDiff(seq, this.nextSeq);
        if (off <= 0) {
          const skip = -off;
          if (skip >= wireLen) this.counters.retransmittedBytes += wireLen;
          else {
            this.counters.retransmittedBytes += skip;
            this.deliver(payload, skip, wireLen, tsUs);
            if (this.ooo.length > 0) this.drain();
          }
        } else {
          this.buffer(seq >>> 0, payload, wireLen, tsUs);
        }
      }
    }

    if (flags & TCP_FIN && !this.hasFin) {
      this.hasFin = true;
      this.finSeq = (seq + wireLen) >>> 0;
    }
    if (this.hasFin && !this.ended && seqDiff(this.nextSeq, this.finSeq) >= 0) this.end();
  }

  /**
   * The other direction acknowledged up to `ack`. When data is buffered beyond a hole that the receiver has
   * already acknowledged, the hole's bytes reached the receiver but not the capture: they will never be seen,
   * so the hole is skipped now instead of at the buffer bound or the connection's end (Zeek does the same).
   */
  peerAck(ack: number): void {
    if (this.ooo.length === 0 || this.ended) return;
    while (this.ooo.length > 0 && seqDiff(ack, this.nextSeq) > 0 && seqDiff(this.ooo[0].seq, ack) <= 0) this.skipFirstHole();
  }

  /**
   * Give up waiting for missing data (connection closing, reset, timed out, end of input): deliver what is
   * buffered with the holes between reported as gaps; when the FIN position is known, the hole before it too.
   * The stream is ended afterwards.
   */
  flush(tsUs = 0): void {
    if (this.ended) return;
    while (this.ooo.length > 0) this.skipFirstHole();
    if (this.hasFin) {
      const missing = seqDiff(this.finSeq, this.nextSeq);
      if (missing > 0) this.gap(missing, tsUs);
    }
    this.end();
  }

  private end(): void {
    this.ended = true;
    // never backwards: a FIN behind data already delivered (a garbled or forged segment) must not rewind the stream
    if (this.hasFin && seqDiff((this.finSeq + 1) >>> 0, this.nextSeq) > 0) this.nextSeq = (this.finSeq + 1) >>> 0;
    this.consumer.onEnd();
  }

  private gap(bytes: number, tsUs: number): void {
    this.nextSeq = (this.nextSeq + bytes) >>> 0;
    this.consumer.onGap(bytes, tsUs);
  }

  /** deliver bytes [from, wireLen) of a segment starting at nextSeq - from; missing captured tail is a gap */
  private deliver(data: Buffer, from: number, wireLen: number, tsUs: number): void {
    const cap = data.length < wireLen ? data.length : wireLen;
    if (from < cap) {
      const n = cap - from;
      this.nextSeq = (this.nextSeq + n) >>> 0;
      this.deliveredBytes += n;
      this.consumer.onData(from === 0 && cap === data.length ? data : data.subarray(from, cap), tsUs);
    }
    const start = from > cap ? from : cap;
    if (start < wireLen) this.gap(wireLen - start, tsUs);
  }

  private buffer(seq: number, payload: Buffer, wireLen: number, tsUs: number): void {
    const list = this.ooo;
    const rel = seqDiff(seq, this.nextSeq);
    let i = list.length;
    while (i > 0 && seqDiff(list[i - 1].seq, this.nextSeq) > rel) i--;
    const prev = list[i - 1];
    if (prev !== undefined && prev.seq === seq && prev.wireLen >= wireLen) {
      this.counters.retransmittedBytes += wireLen; // exact duplicate of something already buffered
      return;
    }
    const data = Buffer.allocUnsafe(Math.min(payload.length, wireLen));
    payload.copy(data, 0, 0, data.length);
    list.splice(i, 0, { seq, data, wireLen, tsUs });
    this.oooBytes += data.length;
    // over the bound: stop waiting for the oldest hole
    while (this.oooBytes > this.maxBufferBytes && list.length > 0) this.skipFirstHole();
  }

  private skipFirstHole(): void {
    const first = this.ooo[0];
    const hole = seqDiff(first.seq, this.nextSeq);
    if (hole > 0) this.gap(hole, first.tsUs);
    this.drain();
  }

  /** deliver buffered segments that are now in order (trimming overlaps) */
  private drain(): void {
    const list = this.ooo;
    while (list.length > 0) {
      const s = list[0];
      const off = seqDiff(s.seq, this.nextSeq);
      if (off > 0) break;
      list.shift();
      this.oooBytes -= s.data.length;
      const skip = -off;
      if (skip >= s.wireLen) this.counters.retransmittedBytes += s.wireLen;
      else {
        this.counters.retransmittedBytes += skip;
        this.deliver(s.data, skip, s.wireLen, s.tsUs);
      }
    }
  }
}
