/**
 * Seed corpora, built at run time from the test captures (test/fixtures/*.pcap, *.pcapng, tls-client-hello.bin)
 * and the RFC 9001 QUIC vectors, with the decoders themselves, rather than kept as binary files:
 * the capture files as they are (pcap, pcapng targets), their frames with link type (link layer), the IP packets
 * (IPv4, IPv6), the TCP and UDP headers, each connection's two byte streams (HTTP/1, HTTP/2, TLS), HPACK blocks
 * from the HTTP/2 HEADERS frames, and the segments of each connection (reassembly and tracker).
 *
 * `node dist/fuzz/write-seeds.js DIR` writes them out, one directory per target, to look at or to feed another fuzzer.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import type { Frame, TransportSegment } from '../src/records.js';
import { PcapParser, type CaptureParser } from '../src/decode/pcap.js';
import { PcapngParser } from '../src/decode/pcapng.js';
import { decodeFrame, newDecodeStats } from '../src/decode/frame.js';
import { decodeLink, newLinkResult } from '../src/decode/link.js';

function findRepo(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json')) || !existsSync(join(d, 'test', 'fixtures'))) {
    const up = dirname(d);
    if (up === d) throw new Error('fuzz seeds: repository root (package.json, test/fixtures) not found');
    d = up;
  }
  return d;
}

export const REPO = findRepo();
const FIXTURES = join(REPO, 'test', 'fixtures');

export function fixture(name: string): Buffer {
  return readFileSync(join(FIXTURES, name));
}

export function captureFiles(): Array<{ name: string; data: Buffer }> {
  return readdirSync(FIXTURES).filter((n) => /\.pcap(ng)?$/.test(n)).sort().map((name) => ({ name, data: fixture(name) }));
}

export interface SeedFrame { linkType: number; data: Buffer; origLen: number; tsUs: number }

let framesCache: SeedFrame[] | undefined;
/** Every frame of every capture fixture (copied out of the file buffer). */
export function frames(): SeedFrame[] {
  if (framesCache !== undefined) return framesCache;
  const out: SeedFrame[] = [];
  for (const { data } of captureFiles()) {
    const onFrame = (f: Frame): void => { out.push({ linkType: f.linkType, data: Buffer.from(f.data), origLen: f.origLen, tsUs: f.tsUs }); };
    const magic = data.readUInt32LE(0);
    const p: CaptureParser = magic === 0x0a0d0d0a ? new PcapngParser(onFrame) : new PcapParser(onFrame);
    p.parse(data, 0, data.length, 0);
  }
  return (framesCache = out);
}

/** The network-layer packets of the frames (link header removed), by IP version. */
export function ipPackets(version: 4 | 6): Buffer[] {
  const link = newLinkResult();
  const out: Buffer[] = [];
  for (const f of frames()) {
    if (decodeLink(f.linkType, f.data, f.data.length, link) !== undefined) continue;
    const p = f.data.subarray(link.netOffset);
    if (p.length > 0 && p[0]! >> 4 === version) out.push(p);
  }
  return out;
}

let segCache: TransportSegment[] | undefined;
export function segments(): TransportSegment[] {
  if (segCache !== undefined) return segCache;
  const stats = newDecodeStats();
  const out: TransportSegment[] = [];
  for (const f of frames()) {
    const s = decodeFrame({ tsUs: f.tsUs, linkType: f.linkType, data: f.data, origLen: f.origLen, ifindex: 0, ifname: undefined, direction: undefined }, stats);
    if (s !== undefined) out.push({ ...s, payload: Buffer.from(s.payload) });
  }
  return (segCache = out);
}

/** The transport header + payload of each segment, from the IP packets. */
export function transportHeaders(proto: 6 | 17): Buffer[] {
  const out: Buffer[] = [];
  for (const v of [4, 6] as const) {
    for (const p of ipPackets(v)) {
      const hl = v === 4 ? (p[0]! & 15) * 4 : 40;
      const next = v === 4 ? p[9] : p[6];
      if (next === proto && p.length > hl) out.push(p.subarray(hl));
    }
  }
  return out;
}

export interface SeedConnection {
  /** segments in capture order, client (the SYN's sender, or the first sender) first */
  segments: Array<{ fromClient: boolean; seg: TransportSegment }>;
  client: Buffer;
  server: Buffer;
}

/** TCP connections of the fixtures, each direction's payload concatenated in capture order (the fixtures are in order). */
export function connections(): SeedConnection[] {
  const byKey = new Map<string, SeedConnection & { clientKey: string; c: Buffer[]; s: Buffer[] }>();
  for (const seg of segments()) {
    if (seg.proto !== 6) continue;
    const a = `${seg.src}|${seg.sport}`, b = `${seg.dst}|${seg.dport}`;
    const key = a < b ? `${a}>${b}` : `${b}>${a}`;
    let c = byKey.get(key);
    if (c === undefined) byKey.set(key, (c = { segments: [], client: Buffer.alloc(0), server: Buffer.alloc(0), clientKey: a, c: [], s: [] }));
    const fromClient = a === c.clientKey;
    c.segments.push({ fromClient, seg });
    (fromClient ? c.c : c.s).push(seg.payload);
  }
  return [...byKey.values()].map((c) => ({ segments: c.segments, client: Buffer.concat(c.c), server: Buffer.concat(c.s) }));
}

/** Distinct non-empty direction streams whose first byte passes `pick`. */
export function streams(pick: (b: Buffer) => boolean): Buffer[] {
  const seen = new Set<string>();
  const out: Buffer[] = [];
  for (const c of connections()) {
    for (const s of [c.client, c.server]) {
      if (s.length === 0 || !pick(s)) continue;
      const h = createHash('sha1').update(s).digest('hex');
      if (!seen.has(h)) { seen.add(h); out.push(s); }
    }
  }
  return out;
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** HTTP/2 frames (type, flags, payload) of the h2c fixture's streams (preface and any HTTP/1 upgrade skipped). */
export function http2Frames(): Array<{ type: number; flags: number; payload: Buffer }> {
  const out: Array<{ type: number; flags: number; payload: Buffer }> = [];
  for (const s of streams(() => true)) {
    let p = s.indexOf(PREFACE);
    if (p >= 0) p += PREFACE.length;
    else {
      // a server's side: after a 101's head, or from the start
      const up = s.indexOf('HTTP/1.1 101');
      p = up >= 0 ? s.indexOf('\r\n\r\n', up) + 4 : 0;
    }
    while (p + 9 <= s.length) {
      const len = s.readUIntBE(p, 3), type = s[p + 3]!, flags = s[p + 4]!;
      if (type > 9 || p + 9 + len > s.length) break;
      out.push({ type, flags, payload: s.subarray(p + 9, p + 9 + len) });
      p += 9 + len;
    }
  }
  return out;
}

/** HPACK header blocks from the HEADERS frames (padding and priority removed). */
export function hpackBlocks(): Buffer[] {
  const out: Buffer[] = [];
  for (const f of http2Frames()) {
    if (f.type !== 1) continue;
    let s = 0, e = f.payload.length;
    if (f.flags & 0x8) { e -= f.payload[0]!; s = 1; }
    if (f.flags & 0x20) s += 5;
    if (s <= e) out.push(f.payload.subarray(s, e));
  }
  return out;
}

export function isHttp1Request(b: Buffer): boolean { return /^[A-Z]+ \S+ HTTP\//.test(b.toString('latin1', 0, 64)); }
export function isHttp1Response(b: Buffer): boolean { return b.toString('latin1', 0, 5) === 'HTTP/'; }
