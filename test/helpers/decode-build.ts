/**
 * Byte builders for decoder tests (not a test file itself): frames layer by layer, pcap and pcapng files in
 * either byte order, and a tshark runner used as the independent reference.
 */
import { execFileSync } from 'node:child_process';

export const cat = (...parts: Buffer[]): Buffer => Buffer.concat(parts);
export const u8 = (...v: number[]): Buffer => Buffer.from(v);
export function u16be(v: number): Buffer { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; }
export function u32be(v: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b; }

export function ipv4Bytes(s: string): Buffer { return Buffer.from(s.split('.').map(Number)); }
export function ipv6Bytes(s: string): Buffer {
  // expand "::" then parse groups (no embedded dotted quad needed by tests except ::ffff:a.b.c.d)
  let tail: number[] = [];
  const m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (m) { const v4 = ipv4Bytes(m[2]!); tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!]; s = m[1]!.endsWith('::') ? m[1]! : m[1]!.slice(0, -1); }
  const [l, r] = s.includes('::') ? s.split('::') : [s, undefined];
  const lg = l ? l.split(':').map((x) => parseInt(x, 16)) : [];
  const rg = r ? r.split(':').map((x) => parseInt(x, 16)) : [];
  const fill = 8 - lg.length - rg.length - tail.length;
  const g = [...lg, ...(r !== undefined ? new Array(fill).fill(0) : []), ...rg, ...tail];
  const b = Buffer.alloc(16);
  g.forEach((v, i) => b.writeUInt16BE(v, 2 * i));
  return b;
}

export function ether(etherType: number, payload: Buffer, vlans: Array<{ tpid: number; vid: number; pcp?: number }> = []): Buffer {
  const tags = vlans.map((t, i) => cat(u16be(i === 0 ? t.tpid : t.tpid), u16be(((t.pcp ?? 0) << 13) | t.vid)));
  // With tags the TPIDs chain: dst src TPID1 TCI1 TPID2 TCI2 … etherType
  const hdr = cat(u8(0x02, 0, 0, 0, 0, 1), u8(0x02, 0, 0, 0, 0, 2));
  return cat(hdr, ...tags, u16be(etherType), payload);
}
export function sll(protocol: number, payload: Buffer, pktType = 0): Buffer {
  return cat(u16be(pktType), u16be(1), u16be(6), u8(0x02, 0, 0, 0, 0, 1, 0, 0), u16be(protocol), payload);
}
export function sll2(protocol: number, payload: Buffer, pktType = 0, ifindex = 7): Buffer {
  return cat(u16be(protocol), u16be(0), u32be(ifindex), u16be(1), u8(pktType, 6), u8(0x02, 0, 0, 0, 0, 1, 0, 0), payload);
}
export function nullHdr(af: number, payload: Buffer, order: 'le' | 'be'): Buffer {
  const b = Buffer.alloc(4);
  if (order === 'le') b.writeUInt32LE(af); else b.writeUInt32BE(af);
  return cat(b, payload);
}

function csum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i + 1 < b.length; i += 2) s += b.readUInt16BE(i);
  if (b.length & 1) s += b[b.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

export interface Ip4Opts { src?: string; dst?: string; proto: number; options?: Buffer; id?: number; mf?: boolean; df?: boolean; fragOffset8?: number; totalLength?: number; ttl?: number }
export function ipv4(o: Ip4Opts, payload: Buffer): Buffer {
  const opts = o.options ?? Buffer.alloc(0);
  if (opts.length % 4) throw new Error('ipv4 options must be a multiple of 4');
  const h = Buffer.alloc(20 + opts.length);
  h[0] = 0x40 | (h.length / 4);
  h.writeUInt16BE(o.totalLength ?? h.length + payload.length, 2);
  h.writeUInt16BE(o.id ?? 0x1234, 4);
  h.writeUInt16BE((o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | (o.fragOffset8 ?? 0), 6);
  h[8] = o.ttl ?? 64;
  h[9] = o.proto;
  ipv4Bytes(o.src ?? '10.0.0.1').copy(h, 12);
  ipv4Bytes(o.dst ?? '10.0.0.2').copy(h, 16);
  opts.copy(h, 20);
  h.writeUInt16BE(csum(h), 10);
  return cat(h, payload);
}

/** IPv6 with extension headers given as [type, body-without-next-header-byte]; lengths are filled in. */
export function ipv6(o: { src?: string; dst?: string; proto: number; ext?: Array<{ type: number; body: Buffer }>; payloadLength?: number }, payload: Buffer): Buffer {
  const ext = o.ext ?? [];
  const parts: Buffer[] = [];
  for (let i = 0; i < ext.length; i++) {
    const e = ext[i]!;
    const next = i + 1 < ext.length ? ext[i + 1]!.type : o.proto;
    let hdr: Buffer;
    if (e.type === 44) hdr = cat(u8(next, 0), e.body); // fragment: body = 6 bytes (offset/flags, id)
    else if (e.type === 51) hdr = cat(u8(next, (e.body.length + 2) / 4 - 2), e.body); // AH
    else hdr = cat(u8(next, (e.body.length + 2) / 8 - 1), e.body);
    parts.push(hdr);
  }
  const rest = cat(...parts, payload);
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(o.payloadLength ?? rest.length, 4);
  h[6] = ext.length ? ext[0]!.type : o.proto;
  h[7] = 64;
  ipv6Bytes(o.src ?? '2001:db8::1').copy(h, 8);
  ipv6Bytes(o.dst ?? '2001:db8::2').copy(h, 24);
  return cat(h, rest);
}

export interface TcpOpts { sport?: number; dport?: number; seq?: number; ack?: number; flags?: number; window?: number; options?: Buffer }
export function tcp(o: TcpOpts, payload: Buffer): Buffer {
  const opts = o.options ?? Buffer.alloc(0);
  if (opts.length % 4) throw new Error('tcp options must be a multiple of 4');
  const h = Buffer.alloc(20 + opts.length);
  h.writeUInt16BE(o.sport ?? 40000, 0);
  h.writeUInt16BE(o.dport ?? 80, 2);
  h.writeUInt32BE((o.seq ?? 1000) >>> 0, 4);
  h.writeUInt32BE((o.ack ?? 2000) >>> 0, 8);
  h[12] = (h.length / 4) << 4 | (((o.flags ?? 0x18) >> 8) & 1);
  h[13] = (o.flags ?? 0x18) & 0xff;
  h.writeUInt16BE(o.window ?? 512, 14);
  opts.copy(h, 20);
  return cat(h, payload);
}
export function udp(o: { sport?: number; dport?: number; length?: number }, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(o.sport ?? 5353, 0);
  h.writeUInt16BE(o.dport ?? 53, 2);
  h.writeUInt16BE(o.length ?? 8 + payload.length, 4);
  return cat(h, payload);
}

// ---- capture files ----

export interface Rec { tsUs: number; data: Buffer; origLen?: number }

/** Classic pcap, either byte order, µs or ns. `linkTypeField` is written as is (may carry FCS bits). */
export function pcapFile(recs: Rec[], o: { le?: boolean; ns?: boolean; linkTypeField?: number; snaplen?: number } = {}): Buffer {
  const le = o.le ?? true;
  const w32 = (b: Buffer, v: number, off: number): void => { if (le) b.writeUInt32LE(v >>> 0, off); else b.writeUInt32BE(v >>> 0, off); };
  const w16 = (b: Buffer, v: number, off: number): void => { if (le) b.writeUInt16LE(v, off); else b.writeUInt16BE(v, off); };
  const h = Buffer.alloc(24);
  w32(h, o.ns ? 0xa1b23c4d : 0xa1b2c3d4, 0); w16(h, 2, 4); w16(h, 4, 6);
  w32(h, o.snaplen ?? 262144, 16); w32(h, o.linkTypeField ?? 1, 20);
  const parts: Buffer[] = [h];
  for (const r of recs) {
    const rh = Buffer.alloc(16);
    const sec = Math.floor(r.tsUs / 1e6), us = r.tsUs - sec * 1e6;
    w32(rh, sec, 0); w32(rh, o.ns ? us * 1000 + 789 : us, 4); w32(rh, r.data.length, 8); w32(rh, r.origLen ?? r.data.length, 12);
    parts.push(rh, r.data);
  }
  return cat(...parts);
}

/** Convert a little-endian pcap (as tcpdump writes here) to big-endian. */
export function pcapToBigEndian(le: Buffer): Buffer {
  const b = Buffer.from(le);
  if (b.readUInt32LE(0) !== 0xa1b2c3d4 && b.readUInt32LE(0) !== 0xa1b23c4d) throw new Error('not a LE pcap');
  const sw32 = (o: number): void => { b.writeUInt32BE(le.readUInt32LE(o), o); };
  const sw16 = (o: number): void => { b.writeUInt16BE(le.readUInt16LE(o), o); };
  sw32(0); sw16(4); sw16(6); sw32(8); sw32(12); sw32(16); sw32(20);
  let o = 24;
  while (o + 16 <= le.length) {
    const caplen = le.readUInt32LE(o + 8);
    sw32(o); sw32(o + 4); sw32(o + 8); sw32(o + 12);
    o += 16 + caplen;
  }
  return b;
}

export class PcapngBuilder {
  private parts: Buffer[] = [];
  constructor(readonly le = true) {}
  private w32(v: number): Buffer { const b = Buffer.alloc(4); if (this.le) b.writeUInt32LE(v >>> 0); else b.writeUInt32BE(v >>> 0); return b; }
  private w16(v: number): Buffer { const b = Buffer.alloc(2); if (this.le) b.writeUInt16LE(v); else b.writeUInt16BE(v); return b; }
  private pad(b: Buffer): Buffer { return b.length % 4 ? cat(b, Buffer.alloc(4 - (b.length % 4))) : b; }
  opt(code: number, value: Buffer): Buffer { return cat(this.w16(code), this.w16(value.length), this.pad(value)); }
  optU32(code: number, v: number): Buffer { return this.opt(code, this.w32(v)); }
  optI64(code: number, v: bigint): Buffer { const b = Buffer.alloc(8); if (this.le) b.writeBigInt64LE(v); else b.writeBigInt64BE(v); return this.opt(code, b); }
  endOpts(): Buffer { return Buffer.alloc(4); }
  block(type: number, body: Buffer): this {
    const len = 12 + this.pad(body).length;
    this.parts.push(cat(this.w32(type), this.w32(len), this.pad(body), this.w32(len)));
    return this;
  }
  shb(options: Buffer = Buffer.alloc(0)): this {
    return this.block(0x0a0d0d0a, cat(this.w32(0x1a2b3c4d), this.w16(1), this.w16(0), Buffer.from('ffffffffffffffff', 'hex'), options));
  }
  idb(linkType: number, o: { snaplen?: number; name?: string; tsresol?: number; tsoffset?: bigint } = {}): this {
    const opts: Buffer[] = [];
    if (o.name !== undefined) opts.push(this.opt(2, Buffer.from(o.name)));
    if (o.tsresol !== undefined) opts.push(this.opt(9, u8(o.tsresol)));
    if (o.tsoffset !== undefined) opts.push(this.optI64(14, o.tsoffset));
    if (opts.length) opts.push(this.endOpts());
    return this.block(1, cat(this.w16(linkType), this.w16(0), this.w32(o.snaplen ?? 0), ...opts));
  }
  /** ts in interface units as a bigint */
  epb(ifid: number, ts: bigint, data: Buffer, o: { origLen?: number; flags?: number } = {}): this {
    const opts = o.flags !== undefined ? cat(this.optU32(2, o.flags), this.endOpts()) : Buffer.alloc(0);
    return this.block(6, cat(this.w32(ifid), this.w32(Number(ts >> 32n)), this.w32(Number(ts & 0xffffffffn)),
      this.w32(data.length), this.w32(o.origLen ?? data.length), this.pad(data), opts));
  }
  pb(ifid: number, ts: bigint, data: Buffer, o: { origLen?: number; flags?: number } = {}): this {
    const opts = o.flags !== undefined ? cat(this.optU32(2, o.flags), this.endOpts()) : Buffer.alloc(0);
    return this.block(2, cat(this.w16(ifid), this.w16(0), this.w32(Number(ts >> 32n)), this.w32(Number(ts & 0xffffffffn)),
      this.w32(data.length), this.w32(o.origLen ?? data.length), this.pad(data), opts));
  }
  spb(data: Buffer, origLen = data.length): this { return this.block(3, cat(this.w32(origLen), this.pad(data))); }
  raw(b: Buffer): this { this.parts.push(b); return this; }
  build(): Buffer { return cat(...this.parts); }
}

/** Run tshark and return one array of fields per packet (tab-separated -T fields). */
export function tsharkFields(file: string, fields: string[], extra: string[] = []): string[][] {
  const out = execFileSync('tshark', ['-r', file, '-n', ...extra, '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=f', ...fields.flatMap((f) => ['-e', f])],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.split('\n').filter((l) => l.length > 0).map((l) => l.split('\t'));
}

/** "1700000000.123456789" → µs, exactly (truncating below µs). */
export function epochToUs(s: string): number {
  const [sec, frac = ''] = s.split('.');
  return Number(sec) * 1e6 + Number((frac + '000000').slice(0, 6));
}
