/** IPv6 header view (RFC 8200) and a bounded walk over extension headers. */
import { ipv6ToString } from './addr.js';
import { DecodeError, limit, malformed, truncated } from './errors.js';

const EMPTY = Buffer.alloc(0);

export const IPV6_HOPOPTS = 0;
export const IPV6_ROUTING = 43;
export const IPV6_FRAGMENT = 44;
export const IPV6_ESP = 50;
export const IPV6_AH = 51;
export const IPV6_NONXT = 59;
export const IPV6_DSTOPTS = 60;
export const IPV6_MOBILITY = 135;
export const IPV6_HIP = 139;
export const IPV6_SHIM6 = 140;

/** Extension headers walked before giving up: real packets carry 0–3, a long chain is an attack or garbage. */
export const MAX_IPV6_EXT_HEADERS = 12;

export class Ipv6View {
  static readonly HEADER_LEN = 40;
  buf: Buffer = EMPTY;
  off = 0;

  reset(buf: Buffer, off: number, end: number = buf.length): DecodeError | undefined {
    this.buf = buf; this.off = off;
    if (end - off < 40) return truncated('ipv6', off, 40, end - off);
    if (buf[off]! >> 4 !== 6) return malformed('ipv6', off, `version ${buf[off]! >> 4}, expected 6`);
    return undefined;
  }

  get version(): number { return this.buf[this.off]! >> 4; }
  get trafficClass(): number { return (this.buf.readUInt16BE(this.off) >> 4) & 0xff; }
  get flowLabel(): number { return this.buf.readUInt32BE(this.off) & 0xfffff; }
  get payloadLength(): number { return this.buf.readUInt16BE(this.off + 4); }
  get nextHeader(): number { return this.buf[this.off + 6]!; }
  get hopLimit(): number { return this.buf[this.off + 7]!; }
  get src(): string { return ipv6ToString(this.buf, this.off + 8); }
  get dst(): string { return ipv6ToString(this.buf, this.off + 24); }
  get srcBytes(): Buffer { return this.buf.subarray(this.off + 8, this.off + 24); }
  get dstBytes(): Buffer { return this.buf.subarray(this.off + 24, this.off + 40); }

  /** Packet length on the wire (header + payload), bounded by the frame; 0 (jumbogram or TSO) = rest of frame. */
  wireLength(frameBytesFromHere: number): number {
    const pl = this.payloadLength;
    const l = 40 + pl;
    return pl === 0 || l > frameBytesFromHere ? frameBytesFromHere : l;
  }
}

/** Result of walking the extension-header chain. Reusable. */
export interface Ipv6Walk {
  /** upper-layer protocol (6, 17, 58 …), or 59 no-next-header, 50 ESP (opaque) */
  proto: number;
  /** offset of the upper-layer header */
  offset: number;
  extCount: number;
  /** a Fragment header was present */
  fragment: boolean;
  /** fragment offset in bytes (0 for the first fragment) */
  fragmentOffset: number;
  moreFragments: boolean;
  fragmentId: number;
}

export function newIpv6Walk(): Ipv6Walk {
  return { proto: 0, offset: 0, extCount: 0, fragment: false, fragmentOffset: 0, moreFragments: false, fragmentId: 0 };
}

export function isIpv6ExtensionHeader(nh: number): boolean {
  return nh === IPV6_HOPOPTS || nh === IPV6_ROUTING || nh === IPV6_FRAGMENT || nh === IPV6_DSTOPTS ||
    nh === IPV6_AH || nh === IPV6_MOBILITY || nh === IPV6_HIP || nh === IPV6_SHIM6;
}

/**
 * Walk from the fixed header of a validated view through extension headers, up to `end` (captured bytes,
 * already bounded by the packet's wire length). Stops at the first non-extension header, at ESP, or at a
 * non-first fragment (whose upper-layer header is in another packet).
 */
export function walkIpv6(v: Ipv6View, end: number, out: Ipv6Walk): DecodeError | undefined {
  const buf = v.buf;
  let nh = buf[v.off + 6]!;
  let o = v.off + 40;
  out.extCount = 0; out.fragment = false; out.fragmentOffset = 0; out.moreFragments = false; out.fragmentId = 0;
  while (isIpv6ExtensionHeader(nh)) {
    if (out.extCount === MAX_IPV6_EXT_HEADERS) return limit('ipv6', o, `more than ${MAX_IPV6_EXT_HEADERS} extension headers`);
    if (end - o < 8) return truncated('ipv6', o, 8, end - o, `extension header ${nh}`);
    const next = buf[o]!;
    let len: number;
    if (nh === IPV6_FRAGMENT) {
      len = 8;
      const fo = buf.readUInt16BE(o + 2);
      out.fragment = true;
      out.fragmentOffset = fo & 0xfff8;
      out.moreFragments = (fo & 1) !== 0;
      out.fragmentId = buf.readUInt32BE(o + 4);
      out.extCount++;
      if (out.fragmentOffset !== 0) { out.proto = next; out.offset = o + 8; return undefined; }
    } else {
      // AH counts 4-byte units minus 2; the others 8-byte units not counting the first 8.
      len = nh === IPV6_AH ? (buf[o + 1]! + 2) * 4 : (buf[o + 1]! + 1) * 8;
      if (end - o < len) return truncated('ipv6', o, len, end - o, `extension header ${nh}`);
      out.extCount++;
    }
    nh = next;
    o += len;
  }
  out.proto = nh;
  out.offset = o;
  return undefined;
}

/** One extension header, for display and tests (the walk above is the hot path). */
export interface Ipv6ExtensionHeader { type: number; offset: number; length: number }

export function ipv6ExtensionHeaders(v: Ipv6View, end: number = v.buf.length): Ipv6ExtensionHeader[] | DecodeError {
  const out: Ipv6ExtensionHeader[] = [];
  let nh = v.nextHeader;
  let o = v.off + 40;
  while (isIpv6ExtensionHeader(nh)) {
    if (out.length === MAX_IPV6_EXT_HEADERS) return limit('ipv6', o, `more than ${MAX_IPV6_EXT_HEADERS} extension headers`);
    if (end - o < 8) return truncated('ipv6', o, 8, end - o, `extension header ${nh}`);
    const len = nh === IPV6_FRAGMENT ? 8 : nh === IPV6_AH ? (v.buf[o + 1]! + 2) * 4 : (v.buf[o + 1]! + 1) * 8;
    if (end - o < len) return truncated('ipv6', o, len, end - o, `extension header ${nh}`);
    out.push({ type: nh, offset: o, length: len });
    if (nh === IPV6_FRAGMENT && (v.buf.readUInt16BE(o + 2) & 0xfff8) !== 0) break;
    nh = v.buf[o]!;
    o += len;
  }
  return out;
}
