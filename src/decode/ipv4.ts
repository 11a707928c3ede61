/** IPv4 header view (RFC 791). Zero-copy: getters read the buffer. */
import { ipv4ToString } from './addr.js';
import { DecodeError, malformed, truncated } from './errors.js';

const EMPTY = Buffer.alloc(0);

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

export class Ipv4View {
  static readonly MIN_HEADER_LEN = 20;
  buf: Buffer = EMPTY;
  off = 0;

  /**
   * Point at the header at buf[off] with captured bytes up to `end`. Checks what later getters rely on: the whole
   * header including options is captured, version is 4, IHL ≥ 5, and total length covers the header (0 is allowed:
   * Linux shows TSO/GSO super-packets with total length 0, and `wireLength()` then falls back to the frame).
   */
  reset(buf: Buffer, off: number, end: number = buf.length): DecodeError | undefined {
    this.buf = buf; this.off = off;
    const avail = end - off;
    if (avail < 20) return truncated('ipv4', off, 20, avail);
    const b0 = buf[off]!;
    if (b0 >> 4 !== 4) return malformed('ipv4', off, `version ${b0 >> 4}, expected 4`);
    const hl = (b0 & 0x0f) * 4;
    if (hl < 20) return malformed('ipv4', off, `header length ${hl} < 20`, 20, hl);
    if (avail < hl) return truncated('ipv4', off, hl, avail);
    const tl = buf.readUInt16BE(off + 2);
    if (tl !== 0 && tl < hl) return malformed('ipv4', off, `total length ${tl} < header length ${hl}`, hl, tl);
    return undefined;
  }

  get version(): number { return this.buf[this.off]! >> 4; }
  get headerLen(): number { return (this.buf[this.off]! & 0x0f) * 4; }
  get tos(): number { return this.buf[this.off + 1]!; }
  get dscp(): number { return this.buf[this.off + 1]! >> 2; }
  get ecn(): number { return this.buf[this.off + 1]! & 3; }
  get totalLength(): number { return this.buf.readUInt16BE(this.off + 2); }
  get id(): number { return this.buf.readUInt16BE(this.off + 4); }
  get dontFragment(): boolean { return (this.buf[this.off + 6]! & 0x40) !== 0; }
  get moreFragments(): boolean { return (this.buf[this.off + 6]! & 0x20) !== 0; }
  /** fragment offset in bytes (the field counts 8-byte units) */
  get fragmentOffset(): number { return (this.buf.readUInt16BE(this.off + 6) & 0x1fff) * 8; }
  /** part of a fragmented datagram: MF set or offset ≠ 0 */
  get isFragment(): boolean { return (this.buf.readUInt16BE(this.off + 6) & 0x3fff) !== 0; }
  get ttl(): number { return this.buf[this.off + 8]!; }
  get protocol(): number { return this.buf[this.off + 9]!; }
  get checksum(): number { return this.buf.readUInt16BE(this.off + 10); }
  get srcU32(): number { return this.buf.readUInt32BE(this.off + 12); }
  get dstU32(): number { return this.buf.readUInt32BE(this.off + 16); }
  get src(): string { return ipv4ToString(this.buf, this.off + 12); }
  get dst(): string { return ipv4ToString(this.buf, this.off + 16); }
  /** raw options bytes (view) */
  get options(): Buffer { return this.buf.subarray(this.off + 20, this.off + this.headerLen); }
  get payloadOffset(): number { return this.off + this.headerLen; }

  /**
   * Datagram length on the wire: the total length, bounded by what the frame can hold (`frameBytesFromHere`: the
   * frame's original length minus this header's offset); a total length of 0 (TSO) means "the rest of the frame".
   */
  wireLength(frameBytesFromHere: number): number {
    const tl = this.totalLength;
    return tl === 0 || tl > frameBytesFromHere ? frameBytesFromHere : tl;
  }

  /** Checksum over the header: 0 when it verifies. */
  computeChecksum(): number {
    let sum = 0;
    const hl = this.headerLen;
    for (let i = 0; i < hl; i += 2) sum += this.buf.readUInt16BE(this.off + i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    return ~sum & 0xffff;
  }
}

/** One IPv4 option: type, and its bytes (type and length included). */
export interface Ipv4Option { type: number; offset: number; length: number }

/** Walk the options of a validated view. Returns the list, or an error for a bad option length. */
export function ipv4Options(v: Ipv4View): Ipv4Option[] | DecodeError {
  const out: Ipv4Option[] = [];
  const end = v.off + v.headerLen;
  let o = v.off + 20;
  while (o < end) {
    const t = v.buf[o]!;
    if (t === 0) break; // end of option list
    if (t === 1) { out.push({ type: 1, offset: o, length: 1 }); o++; continue; } // NOP
    if (o + 1 >= end) return malformed('ipv4', o, `option ${t} has no length byte`);
    const len = v.buf[o + 1]!;
    if (len < 2 || o + len > end) return malformed('ipv4', o, `option ${t} length ${len} does not fit`, len, end - o);
    out.push({ type: t, offset: o, length: len });
    o += len;
  }
  return out;
}
