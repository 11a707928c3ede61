/**
 * decodeFrame: one link-layer Frame → one TransportSegment (TCP or UDP over IPv4/IPv6), or undefined with the
 * reason counted in DecodeStats. Runs once per packet: the views and walk results below are module singletons
 * (decodeFrame is synchronous and not re-entrant), so the only per-packet allocations are the returned segment,
 * its payload view and, for IPv6, the address strings (IPv4 strings come from a cache).
 */
import type { DecodeErrorInfo, Frame, TransportSegment } from '../records.js';
import { ipv4ToString, ipv6ToString } from './addr.js';
import { DecodeError, internal, malformed, WL_ERR_TRUNCATED } from './errors.js';
import { decodeLink, ETHERTYPE_IPV4, ETHERTYPE_IPV6, LINKTYPE_LINUX_SLL2, newLinkResult } from './link.js';
import { Ipv4View } from './ipv4.js';
import { Ipv6View, newIpv6Walk, walkIpv6 } from './ipv6.js';
import { TcpView } from './tcp.js';
import { UdpView } from './udp.js';

export interface DecodeStats {
  /** frames handed to decodeFrame */
  frames: number;
  /** TCP/UDP segments returned */
  segments: number;
  /** link layer fine but not IPv4/IPv6 (ARP, LLDP, …) */
  nonIp: number;
  /** IP fine but not TCP/UDP (ICMP, ESP, no-next-header, …) */
  nonTransport: number;
  /** IP fragments seen (first fragments are also returned, flagged; later ones are dropped here) */
  fragments: number;
  /** frames dropped on a decode error (truncated, malformed, unsupported link type) */
  errors: number;
  /** errors by layer: 'ethernet', 'vlan', 'sll', 'sll2', 'null', 'loop', 'raw', 'link', 'ipv4', 'ipv6', 'tcp', 'udp' */
  errorsByLayer: Record<string, number>;
  lastError?: DecodeErrorInfo;
  /** TCP segments without payload, SYN, FIN or RST, not returned because DecodeOptions.skipPureAcks asked so */
  pureAcksSkipped: number;
  /** TCP/UDP packets of other ports than DecodeOptions.ports */
  portFiltered: number;
}

export interface DecodeOptions {
  /** Return nothing for pure ACKs: for consumers that only follow payload and connection state (the HTTP
   *  tracker ignores them); saves their address strings and segment object. */
  skipPureAcks?: boolean;
  /** Keep only TCP/UDP packets with either port set to 1 in this 65536-entry table (a capture filter) */
  ports?: Uint8Array;
}

const TCP_SYN_FIN_RST = 0x07;

export function newDecodeStats(): DecodeStats {
  return { frames: 0, segments: 0, nonIp: 0, nonTransport: 0, fragments: 0, pureAcksSkipped: 0, portFiltered: 0, errors: 0, errorsByLayer: {} };
}

const link = newLinkResult();
const ip4 = new Ipv4View();
const ip6 = new Ipv6View();
const walk6 = newIpv6Walk();
const tcp = new TcpView();
const udp = new UdpView();

/** Shared view for segments without captured payload (pure ACKs): saves a Buffer allocation per packet. */
const NO_PAYLOAD: Buffer = Buffer.alloc(0);

const u16 = (b: Buffer, o: number): number => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Buffer, o: number): number => b[o]! * 16777216 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);

function fail(stats: DecodeStats, err: DecodeError): undefined {
  stats.errors++;
  stats.errorsByLayer[err.layer] = (stats.errorsByLayer[err.layer] ?? 0) + 1;
  stats.lastError = err;
  return undefined;
}

/**
 * A header that does not fit inside the IP packet's own length is malformed, not truncated by the snaplen.
 * (`ipEnd <= cap`: the IP length, not the capture, was the limit.)
 */
function transportFail(stats: DecodeStats, err: DecodeError, ipEnd: number, cap: number): undefined {
  if (err.code === WL_ERR_TRUNCATED && ipEnd <= cap) {
    return fail(stats, malformed(err.layer, err.offset, `header needs ${err.required} bytes, the IP packet leaves ${err.actual}`, err.required, err.actual));
  }
  return fail(stats, err);
}

/** Never throws: any exception from a decoder is a bug, counted as an 'internal' error rather than propagated. */
export function decodeFrame(f: Frame, stats: DecodeStats, opts?: DecodeOptions): TransportSegment | undefined {
  stats.frames++;
  try {
    return decode(f, stats, opts?.skipPureAcks === true, opts?.ports);
  } catch (e) {
    return fail(stats, internal('internal', 0, e));
  }
}

function decode(f: Frame, stats: DecodeStats, skipPureAcks: boolean, ports: Uint8Array | undefined): TransportSegment | undefined {
  const buf = f.data;
  const cap = buf.length;
  let err = decodeLink(f.linkType, buf, cap, link);
  if (err !== undefined) return fail(stats, err);
  const n = link.netOffset;
  // Bytes of this frame on the wire from the network header on (origLen < captured would be a broken record).
  const wireFromNet = (f.origLen > cap ? f.origLen : cap) - n;

  // addresses are formatted last: a skipped pure ACK never pays for the strings
  let family: 4 | 6, srcOff: number, dstOff: number, proto: number, tOff: number, ipEnd: number;
  let fragment = false;
  if (link.etherType === ETHERTYPE_IPV4) {
    if ((err = ip4.reset(buf, n, cap)) !== undefined) return fail(stats, err);
    ipEnd = n + ip4.wireLength(wireFromNet);
    const frag = u16(buf, n + 6);
    if ((frag & 0x3fff) !== 0) {
      stats.fragments++;
      if ((frag & 0x1fff) !== 0) return undefined; // not the first fragment: no transport header here
      fragment = true;
    }
    family = 4;
    proto = buf[n + 9]!;
    tOff = n + (buf[n]! & 0x0f) * 4;
    srcOff = n + 12;
    dstOff = n + 16;
  } else if (link.etherType === ETHERTYPE_IPV6) {
    if ((err = ip6.reset(buf, n, cap)) !== undefined) return fail(stats, err);
    ipEnd = n + ip6.wireLength(wireFromNet);
    if ((err = walkIpv6(ip6, ipEnd < cap ? ipEnd : cap, walk6)) !== undefined) return transportFail(stats, err, ipEnd, cap);
    if (walk6.fragment) {
      stats.fragments++;
      if (walk6.fragmentOffset !== 0) return undefined;
      fragment = walk6.moreFragments; // offset 0 without M is an "atomic fragment" (RFC 6946): whole
    }
    family = 6;
    proto = walk6.proto;
    tOff = walk6.offset;
    srcOff = n + 8;
    dstOff = n + 24;
  } else {
    stats.nonIp++;
    return undefined;
  }

  const capEnd = ipEnd < cap ? ipEnd : cap; // drop Ethernet padding past the IP length
  let sport: number, dport: number, seq = 0, ack = 0, flags = 0, window = 0, payOff: number, payEnd: number;
  if (proto === 6) {
    if ((err = tcp.reset(buf, tOff, capEnd)) !== undefined) return transportFail(stats, err, ipEnd, cap);
    sport = u16(buf, tOff);
    dport = u16(buf, tOff + 2);
    seq = u32(buf, tOff + 4);
    ack = u32(buf, tOff + 8);
    flags = ((buf[tOff + 12]! & 1) << 8) | buf[tOff + 13]!;
    window = u16(buf, tOff + 14);
    payOff = tOff + (buf[tOff + 12]! >> 4) * 4;
    payEnd = ipEnd;
  } else if (proto === 17) {
    if ((err = udp.reset(buf, tOff, capEnd)) !== undefined) return transportFail(stats, err, ipEnd, cap);
    sport = u16(buf, tOff);
    dport = u16(buf, tOff + 2);
    payOff = tOff + 8;
    // The UDP length marks the datagram's end when it is sane; for a first fragment it covers data not here.
    const ul = u16(buf, tOff + 4);
    payEnd = !fragment && ul >= 8 && tOff + ul <= ipEnd ? tOff + ul : ipEnd;
  } else {
    stats.nonTransport++;
    return undefined;
  }

  if (ports !== undefined && ports[sport] === 0 && ports[dport] === 0) {
    stats.portFiltered++;
    return undefined;
  }
  if (skipPureAcks && proto === 6 && payEnd === payOff && (flags & TCP_SYN_FIN_RST) === 0) {
    stats.pureAcksSkipped++;
    return undefined;
  }
  const src = family === 4 ? ipv4ToString(buf, srcOff) : ipv6ToString(buf, srcOff);
  const dst = family === 4 ? ipv4ToString(buf, dstOff) : ipv6ToString(buf, dstOff);
  stats.segments++;
  return {
    tsUs: f.tsUs,
    ifindex: f.linkType === LINKTYPE_LINUX_SLL2 ? link.sllIfindex : f.ifindex,
    ifname: f.ifname,
    direction: f.direction ?? link.direction,
    netns: undefined,
    family,
    src,
    dst,
    sport,
    dport,
    proto: proto as 6 | 17,
    seq,
    ack,
    flags,
    window,
    payload: (payEnd < cap ? payEnd : cap) > payOff ? buf.subarray(payOff, payEnd < cap ? payEnd : cap) : NO_PAYLOAD,
    payloadLen: payEnd - payOff,
    fragment,
  };
}
