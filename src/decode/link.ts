/**
 * Link layers: zero-copy views over (buffer, offset) plus `decodeLink`, which walks a frame down to its network
 * layer (through VLAN/QinQ tags) and fills a reusable LinkResult. Nothing here allocates on the success path.
 */
import type { Direction } from '../records.js';
import { DecodeError, truncated, unsupported } from './errors.js';

export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
/** DLT_RAW as some BSDs numbered it in files (12, and 14 on OpenBSD); both mean raw IP. */
export const LINKTYPE_RAW_12 = 12;
export const LINKTYPE_RAW_14 = 14;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_QINQ = 0x88a8;
/** Pre-standard QinQ outer tag still seen on some switches. */
export const ETHERTYPE_QINQ_OLD = 0x9100;

/** Linux packet types (SLL/SLL2 `pkttype`). */
export const PACKET_HOST = 0;
export const PACKET_BROADCAST = 1;
export const PACKET_MULTICAST = 2;
export const PACKET_OTHERHOST = 3;
export const PACKET_OUTGOING = 4;

/** VLAN tags followed before giving up (QinQ is 2; a few more is generous). */
export const MAX_VLAN_TAGS = 8;

const EMPTY = Buffer.alloc(0);

function macString(b: Buffer, o: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += (i ? ':' : '') + (b[o + i]! < 16 ? '0' : '') + b[o + i]!.toString(16);
  return s;
}

/** Ethernet II header (14 bytes). An EtherType ≤ 1500 is an 802.3 length (LLC follows), not a type. */
export class EthernetView {
  static readonly HEADER_LEN = 14;
  buf: Buffer = EMPTY;
  off = 0;
  /** Point at buf[off..end); returns an error when the header does not fit. */
  reset(buf: Buffer, off: number, end: number = buf.length): DecodeError | undefined {
    this.buf = buf; this.off = off;
    if (end - off < 14) return truncated('ethernet', off, 14, end - off);
    return undefined;
  }
  get dst(): string { return macString(this.buf, this.off, 6); }
  get src(): string { return macString(this.buf, this.off + 6, 6); }
  get etherType(): number { return this.buf.readUInt16BE(this.off + 12); }
  get headerLen(): number { return 14; }
}

/** One 802.1Q / 802.1ad tag (4 bytes after the TPID): TCI then the inner EtherType. `off` points at the TCI. */
export class VlanView {
  static readonly HEADER_LEN = 4;
  buf: Buffer = EMPTY;
  off = 0;
  reset(buf: Buffer, off: number, end: number = buf.length): DecodeError | undefined {
    this.buf = buf; this.off = off;
    if (end - off < 4) return truncated('vlan', off, 4, end - off);
    return undefined;
  }
  get tci(): number { return this.buf.readUInt16BE(this.off); }
  get pcp(): number { return this.buf[this.off]! >> 5; }
  get dei(): boolean { return (this.buf[this.off]! & 0x10) !== 0; }
  get vid(): number { return this.tci & 0x0fff; }
  get etherType(): number { return this.buf.readUInt16BE(this.off + 2); }
}

/** Linux cooked capture v1 (16 bytes). */
export class SllView {
  static readonly HEADER_LEN = 16;
  buf: Buffer = EMPTY;
  off = 0;
  reset(buf: Buffer, off: number, end: number = buf.length): DecodeError | undefined {
    this.buf = buf; this.off = off;
    if (end - off < 16) return truncated('sll', off, 16, end - off);
    return undefined;
  }
  get packetType(): number { return this.buf.readUInt16BE(this.off); }
  get arphrd(): number { return this.buf.readUInt16BE(this.off + 2); }
  get addrLen(): number { return this.buf.readUInt16BE(this.off + 4); }
  get addr(): string { return macString(this.buf, this.off + 6, Math.min(8, this.addrLen)); }
  get protocol(): number { return this.buf.readUInt16BE(this.off + 14); }
}

/** Linux cooked capture v2 (20 bytes): adds the interface index. */
export class Sll2View {
  static readonly HEADER_LEN = 20;
  buf: Buffer = EMPTY;
  off = 0;
  reset(buf: Buffer, off: number, end: number = buf.length): DecodeError | undefined {
    this.buf = buf; this.off = off;
    if (end - off < 20) return truncated('sll2', off, 20, end - off);
    return undefined;
  }
  get protocol(): number { return this.buf.readUInt16BE(this.off); }
  get ifindex(): number { return this.buf.readUInt32BE(this.off + 4); }
  get arphrd(): number { return this.buf.readUInt16BE(this.off + 8); }
  get packetType(): number { return this.buf[this.off + 10]!; }
  get addrLen(): number { return this.buf[this.off + 11]!; }
  get addr(): string { return macString(this.buf, this.off + 12, Math.min(8, this.addrLen)); }
}

/**
 * BSD loopback: a 4-byte address family. LINKTYPE_NULL stores it in the capturing host's byte order (unknown to
 * us: a value with the high bytes set is big-endian, as libpcap/Wireshark guess); LINKTYPE_LOOP in network order.
 */
export class NullView {
  static readonly HEADER_LEN = 4;
  buf: Buffer = EMPTY;
  off = 0;
  networkOrder = false;
  reset(buf: Buffer, off: number, end: number = buf.length, networkOrder = false): DecodeError | undefined {
    this.buf = buf; this.off = off; this.networkOrder = networkOrder;
    if (end - off < 4) return truncated(networkOrder ? 'loop' : 'null', off, 4, end - off);
    return undefined;
  }
  get family(): number {
    if (this.networkOrder) return this.buf.readUInt32BE(this.off);
    const le = this.buf.readUInt32LE(this.off);
    return (le & 0xffff0000) !== 0 ? this.buf.readUInt32BE(this.off) : le;
  }
}

/** Address families meaning IPv6 across BSDs (24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS) and Linux (10). */
function familyToEtherType(af: number): number {
  if (af === 2) return ETHERTYPE_IPV4;
  if (af === 24 || af === 28 || af === 30 || af === 10) return ETHERTYPE_IPV6;
  return 0;
}

/** Where decodeLink left things. Reused between frames: copy what you keep. */
export interface LinkResult {
  /** offset of the network header in the frame */
  netOffset: number;
  /** EtherType of the network layer (0x0800 / 0x86dd / other), after VLAN tags */
  etherType: number;
  /** VLAN tags walked (0 untagged, 2 for QinQ); the outermost VID is vlanIds[0] */
  vlanDepth: number;
  vlanIds: number[];
  /** from SLL/SLL2 packet type: PACKET_OUTGOING → 'out', PACKET_HOST → 'in'; otherwise undefined */
  direction: Direction | undefined;
  /** SLL2's interface index, or -1 */
  sllIfindex: number;
}

export function newLinkResult(): LinkResult {
  return { netOffset: 0, etherType: 0, vlanDepth: 0, vlanIds: [0, 0, 0, 0, 0, 0, 0, 0], direction: undefined, sllIfindex: -1 };
}

function pktTypeDirection(t: number): Direction | undefined {
  return t === PACKET_OUTGOING ? 'out' : t === PACKET_HOST ? 'in' : undefined;
}

/** Walk VLAN tags from `off` (just past an EtherType field holding `et`). */
function walkVlan(buf: Buffer, off: number, end: number, et: number, out: LinkResult): DecodeError | undefined {
  let depth = 0;
  while (et === ETHERTYPE_VLAN || et === ETHERTYPE_QINQ || et === ETHERTYPE_QINQ_OLD) {
    if (depth === MAX_VLAN_TAGS) return unsupported('vlan', off, `more than ${MAX_VLAN_TAGS} VLAN tags`);
    if (end - off < 4) return truncated('vlan', off, 4, end - off);
    out.vlanIds[depth++] = ((buf[off]! & 0x0f) << 8) | buf[off + 1]!;
    et = (buf[off + 2]! << 8) | buf[off + 3]!;
    off += 4;
  }
  out.vlanDepth = depth;
  out.etherType = et;
  out.netOffset = off;
  return undefined;
}

/**
 * Decode the link layer of `buf[0..end)` for `linkType` into `out`. Returns an error (truncated, or unsupported
 * link type) instead of throwing. A non-IP EtherType is not an error: out.etherType says what it is.
 */
export function decodeLink(linkType: number, buf: Buffer, end: number, out: LinkResult): DecodeError | undefined {
  out.vlanDepth = 0;
  out.direction = undefined;
  out.sllIfindex = -1;
  switch (linkType) {
    case LINKTYPE_ETHERNET:
      if (end < 14) return truncated('ethernet', 0, 14, end);
      return walkVlan(buf, 14, end, (buf[12]! << 8) | buf[13]!, out);
    case LINKTYPE_LINUX_SLL:
      if (end < 16) return truncated('sll', 0, 16, end);
      out.direction = pktTypeDirection((buf[0]! << 8) | buf[1]!);
      return walkVlan(buf, 16, end, (buf[14]! << 8) | buf[15]!, out);
    case LINKTYPE_LINUX_SLL2:
      if (end < 20) return truncated('sll2', 0, 20, end);
      out.direction = pktTypeDirection(buf[10]!);
      out.sllIfindex = buf.readUInt32BE(4);
      return walkVlan(buf, 20, end, (buf[0]! << 8) | buf[1]!, out);
    case LINKTYPE_RAW:
    case LINKTYPE_RAW_12:
    case LINKTYPE_RAW_14:
      // No header: the IP version nibble says which. An empty frame is a truncated IP header.
      if (end < 1) return truncated('raw', 0, 1, end);
      out.netOffset = 0;
      out.etherType = buf[0]! >> 4 === 4 ? ETHERTYPE_IPV4 : buf[0]! >> 4 === 6 ? ETHERTYPE_IPV6 : 0;
      return undefined;
    case LINKTYPE_IPV4:
      out.netOffset = 0; out.etherType = ETHERTYPE_IPV4;
      return undefined;
    case LINKTYPE_IPV6:
      out.netOffset = 0; out.etherType = ETHERTYPE_IPV6;
      return undefined;
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP: {
      const layer = linkType === LINKTYPE_LOOP ? 'loop' : 'null';
      if (end < 4) return truncated(layer, 0, 4, end);
      let af: number;
      if (linkType === LINKTYPE_LOOP) af = buf.readUInt32BE(0);
      else {
        af = buf.readUInt32LE(0);
        if ((af & 0xffff0000) !== 0) af = buf.readUInt32BE(0);
      }
      out.netOffset = 4;
      out.etherType = familyToEtherType(af);
      return undefined;
    }
    default:
      return unsupported('link', 0, `link type ${linkType}`);
  }
}
