/** UDP header view (RFC 768). */
import { DecodeError, truncated } from './errors.js';

const EMPTY = Buffer.alloc(0);

export class UdpView {
  static readonly HEADER_LEN = 8;
  buf: Buffer = EMPTY;
  off = 0;
  reset(buf: Buffer, off: number, end: number = buf.length): DecodeError | undefined {
    this.buf = buf; this.off = off;
    if (end - off < 8) return truncated('udp', off, 8, end - off);
    return undefined;
  }
  get srcPort(): number { return this.buf.readUInt16BE(this.off); }
  get dstPort(): number { return this.buf.readUInt16BE(this.off + 2); }
  /** header + payload, as the header says (0 in IPv6 jumbograms) */
  get length(): number { return this.buf.readUInt16BE(this.off + 4); }
  get checksum(): number { return this.buf.readUInt16BE(this.off + 6); }
  get payloadOffset(): number { return this.off + 8; }
}
