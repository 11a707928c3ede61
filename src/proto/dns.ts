/**
 * DNS messages for the traced client's resolver: queries are encoded with dns-packet; replies (and queries, for
 * symmetry) are read into nettrace's DnsQueryMsg / DnsReplyMsg shapes.
 *
 * The reader never throws. dns-packet's decode() is all-or-nothing, so a message is walked here section by section
 * (header, questions, answers, authorities, additionals) with dns-packet's name decoder for the compressed names,
 * and whatever parsed before the first problem is kept; the problem is returned as `parseErr`. A reply cut short,
 * a garbage datagram or a bad compression pointer is thus recorded as far as it goes.
 */
import dnsPacket from 'dns-packet';
import type { DnsAnswer, DnsQueryMsg, DnsQuestion, DnsReplyMsg, Ms } from '../client/trace.js';

/** The UDP payload size the client advertises in its EDNS0 OPT record (Go's resolver and nettrace's sample). */
export const EDNS_UDP_PAYLOAD_SIZE = 1232;

export const TYPE_A = 1;
export const TYPE_AAAA = 28;
const TYPE_NS = 2;
const TYPE_CNAME = 5;
const TYPE_PTR = 12;
const TYPE_MX = 15;
const TYPE_OPT = 41;
export const CLASS_INET = 1;

/** nettrace's DNSResTypeToString; every other type is `unrecognized-type`. */
const TYPE_NAMES: Record<number, string> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 11: 'WKS', 12: 'PTR', 13: 'HINFO', 14: 'MINFO', 15: 'MX', 16: 'TXT',
  28: 'AAAA', 33: 'SRV', 41: 'OPT', 252: 'AXFR', 255: 'ALL',
};

/** nettrace's DNSRCodeToString; every other code is `unrecognized-rcode`. */
const RCODE_NAMES = ['no-error', 'format-error', 'server-fail', 'non-existent-domain', 'not-implemented', 'query-refused'];

export const RCODE_NOERROR = 0;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;
export const RCODE_REFUSED = 5;

export function dnsTypeName(type: number): string {
  return TYPE_NAMES[type] ?? 'unrecognized-type';
}

export function dnsRCodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? 'unrecognized-rcode';
}

/** What the reader got out of one message. Fields past `parseErr` are absent or partial. */
export interface ParsedDnsMessage {
  /** undefined when the message is shorter than a header */
  header?: {
    id: number;
    response: boolean;
    authoritative: boolean;
    truncated: boolean;
    recursionDesired: boolean;
    recursionAvailable: boolean;
    rcode: number;
  };
  questions: DnsQuestion[];
  answers: DnsAnswer[];
  /** from the OPT pseudo-record in the additional section */
  optUDPPayloadSize?: number;
  /** why reading stopped early (the message is malformed); undefined when it parsed whole */
  parseErr?: string;
}

/** dns-packet's name codec is exported at runtime but not in its type declarations. */
const nameCodec = (dnsPacket as unknown as { name: { decode: ((buf: Buffer, offset: number) => string) & { bytes: number } } }).name;

/** A domain name at `offset` (compression pointers followed), with a trailing dot like Go's dnsmessage. */
function readName(buf: Buffer, offset: number): { name: string; next: number } {
  const n = nameCodec.decode(buf, offset);
  return { name: n === '.' ? '.' : `${n}.`, next: offset + nameCodec.decode.bytes };
}

function need(buf: Buffer, offset: number, len: number, what: string): void {
  if (offset + len > buf.length) throw new Error(`${what} cut short at byte ${offset} (message is ${buf.length} bytes)`);
}

/** Reads a whole DNS message (without the TCP length prefix). Never throws. */
export function parseDnsMessage(buf: Buffer): ParsedDnsMessage {
  const out: ParsedDnsMessage = { questions: [], answers: [] };
  if (buf.length < 12) {
    out.parseErr = `message of ${buf.length} bytes is shorter than a DNS header (12)`;
    return out;
  }
  const flags = buf.readUInt16BE(2);
  out.header = {
    id: buf.readUInt16BE(0),
    response: (flags & 0x8000) !== 0,
    authoritative: (flags & 0x0400) !== 0,
    truncated: (flags & 0x0200) !== 0,
    recursionDesired: (flags & 0x0100) !== 0,
    recursionAvailable: (flags & 0x0080) !== 0,
    rcode: flags & 0x000f,
  };
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  const ns = buf.readUInt16BE(8);
  const ar = buf.readUInt16BE(10);
  let off = 12;
  let section = 'question';
  try {
    for (let i = 0; i < qd; i++) {
      const { name, next } = readName(buf, off);
      need(buf, next, 4, 'question');
      out.questions.push({ name, type: dnsTypeName(buf.readUInt16BE(next)), class: buf.readUInt16BE(next + 2) });
      off = next + 4;
    }
    section = 'answer';
    for (let i = 0; i < an; i++) off = readRecord(buf, off, (a) => out.answers.push(a));
    section = 'authority';
    for (let i = 0; i < ns; i++) off = readRecord(buf, off, () => undefined);
    section = 'additional';
    for (let i = 0; i < ar; i++) {
      off = readRecord(buf, off, () => undefined, (type, klass) => {
        // OPT: the class field carries the requestor's UDP payload size (RFC 6891)
        if (type === TYPE_OPT) out.optUDPPayloadSize = klass;
      });
    }
  } catch (err) {
    out.parseErr = `${section} section: ${(err as Error).message}`;
  }
  return out;
}

/** One resource record at `off`; returns the offset after it. */
function readRecord(buf: Buffer, off: number, onAnswer: (a: DnsAnswer) => void, onRaw?: (type: number, klass: number) => void): number {
  const { name, next } = readName(buf, off);
  need(buf, next, 10, 'record header');
  const type = buf.readUInt16BE(next);
  const klass = buf.readUInt16BE(next + 2);
  const ttl = buf.readUInt32BE(next + 4);
  const rdlen = buf.readUInt16BE(next + 8);
  const rdata = next + 10;
  need(buf, rdata, rdlen, 'record data');
  onRaw?.(type, klass);
  if (type !== TYPE_OPT) {
    const a: DnsAnswer = { name, type: dnsTypeName(type), class: klass, ttl };
    const val = resolvedValue(buf, type, rdata, rdlen);
    if (val !== undefined) a.resolvedVal = val;
    onAnswer(a);
  }
  return rdata + rdlen;
}

/** nettrace's ResolvedVal: the address for A/AAAA, the target name for CNAME/NS/PTR/MX; nothing for the rest. */
function resolvedValue(buf: Buffer, type: number, rdata: number, rdlen: number): string | undefined {
  switch (type) {
    case TYPE_A:
      if (rdlen !== 4) throw new Error(`A record data of ${rdlen} bytes`);
      return `${buf[rdata]}.${buf[rdata + 1]}.${buf[rdata + 2]}.${buf[rdata + 3]}`;
    case TYPE_AAAA:
      if (rdlen !== 16) throw new Error(`AAAA record data of ${rdlen} bytes`);
      return ipv6Text(buf.subarray(rdata, rdata + 16));
    case TYPE_CNAME: case TYPE_NS: case TYPE_PTR:
      return readName(buf, rdata).name;
    case TYPE_MX:
      need(buf, rdata, 3, 'MX data');
      return readName(buf, rdata + 2).name;
    default:
      return undefined;
  }
}

/** RFC 5952 text form (longest run of zero groups as `::`), as Go's netip prints it. */
export function ipv6Text(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1]);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

/** A recursive query for one name and type, with EDNS0 (payload size 1232), as Go's resolver sends it. */
export function encodeQuery(id: number, name: string, type: 'A' | 'AAAA', udpPayloadSize = EDNS_UDP_PAYLOAD_SIZE): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  });
}

/** The query as nettrace records it. */
export function toQueryMsg(msg: Buffer, sentAt: Ms): DnsQueryMsg {
  const p = parseDnsMessage(msg);
  const q: DnsQueryMsg = {
    sentAt,
    id: p.header?.id ?? 0,
    recursionDesired: p.header?.recursionDesired ?? false,
    truncated: p.header?.truncated ?? false,
    size: msg.length,
    questions: p.questions,
  };
  if (p.optUDPPayloadSize !== undefined) q.optUDPPayloadSize = p.optUDPPayloadSize;
  return q;
}

/** A reply as nettrace records it, plus `parseErr` when it was malformed (wirelog's addition). */
export type RecordedReplyMsg = DnsReplyMsg & { parseErr?: string };

export function toReplyMsg(p: ParsedDnsMessage, size: number, recvAt: Ms): RecordedReplyMsg {
  const r: RecordedReplyMsg = {
    recvAt,
    id: p.header?.id ?? 0,
    authoritative: p.header?.authoritative ?? false,
    recursionAvailable: p.header?.recursionAvailable ?? false,
    truncated: p.header?.truncated ?? false,
    size,
    rCode: p.header ? dnsRCodeName(p.header.rcode) : 'unrecognized-rcode',
    answers: p.answers,
  };
  if (p.parseErr !== undefined) r.parseErr = p.parseErr;
  return r;
}
