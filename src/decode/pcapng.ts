/**
 * Incremental pcapng parser (draft-ietf-opsawg-pcapng): SHB (either byte order; a new section forgets the previous
 * section's interfaces), IDB (link type, snaplen, if_name, if_tsresol incl. power-of-2, if_tsoffset), EPB, SPB,
 * obsolete PB; NRB, ISB, DSB, custom and unknown blocks are skipped. EPB/PB flags give Frame.direction.
 */
import type { Direction, Frame } from '../records.js';
import { WL_ERR_MALFORMED, WL_ERR_UNSUPPORTED, type DecodeErrorCode } from './errors.js';
import type { CaptureParser, FrameCallback, ParseFailure } from './pcap.js';

export const PCAPNG_SHB = 0x0a0d0d0a;
export const PCAPNG_IDB = 0x00000001;
export const PCAPNG_PB = 0x00000002;
export const PCAPNG_SPB = 0x00000003;
export const PCAPNG_NRB = 0x00000004;
export const PCAPNG_ISB = 0x00000005;
export const PCAPNG_EPB = 0x00000006;
export const PCAPNG_DSB = 0x0000000a;
/** DSB secrets type of TLS key log text ('TLSK') */
export const PCAPNG_SECRETS_TLS = 0x544c534b;
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
/** Blocks larger than this are taken as corruption (Wireshark's limit is 16 MiB for most blocks). */
export const PCAPNG_MAX_BLOCK = 64 * 1024 * 1024;

const OPT_ENDOFOPT = 0;
const IF_NAME = 2;
const IF_TSRESOL = 9;
const IF_FCSLEN = 13;
const IF_TSOFFSET = 14;
const EPB_FLAGS = 2;

const BLOCK_NAMES: Record<number, string> = {
  [PCAPNG_SHB]: 'Section Header Block', [PCAPNG_IDB]: 'Interface Description Block', [PCAPNG_PB]: 'Packet Block',
  [PCAPNG_SPB]: 'Simple Packet Block', [PCAPNG_NRB]: 'Name Resolution Block', [PCAPNG_ISB]: 'Interface Statistics Block',
  [PCAPNG_EPB]: 'Enhanced Packet Block', [PCAPNG_DSB]: 'Decryption Secrets Block',
};
function blockName(t: number): string {
  return BLOCK_NAMES[t] ?? `block type 0x${t.toString(16).padStart(8, '0')}`;
}

/** How an interface's (high, low) timestamp becomes µs since the epoch. */
const enum TsKind { Micro, Nano, DecimalCoarse, Generic }

export interface PcapngInterface {
  id: number;
  linkType: number;
  snaplen: number;
  name?: string;
  /** raw if_tsresol byte (6 = µs default) */
  tsresol: number;
  /** if_tsoffset in seconds */
  tsoffset: number;
  fcsLen?: number;
  /** internal: conversion */
  kind: TsKind;
  mul: number;
  unitsPerSecond: bigint;
  offsetUs: number;
}

export class PcapngParser implements CaptureParser {
  readonly format = 'pcapng' as const;
  frames = 0;
  bytes = 0;
  failure: ParseFailure | undefined = undefined;
  need = 12;
  pending = 'block header';

  littleEndian = true;
  /** sections seen (SHBs) */
  sections = 0;
  interfaces: PcapngInterface[] = [];
  /** last timestamp delivered: Simple Packet Blocks carry none and reuse it */
  private lastTsUs = 0;
  private readonly frame: Frame = { tsUs: 0, linkType: 0, data: Buffer.alloc(0), origLen: 0, ifindex: 0, ifname: undefined, direction: undefined };

  /** `onSecrets`: the payload of each Decryption Secrets Block (secrets type, e.g. PCAPNG_SECRETS_TLS, and data) */
  constructor(private readonly onFrame: FrameCallback, private readonly onSecrets?: (type: number, data: Buffer) => void) {}

  private fail(code: DecodeErrorCode, offset: number, message: string): void {
    this.failure = { code, offset, message };
  }

  // Plain index arithmetic: Buffer#readUInt* validate arguments on every call (callers have bounds-checked).
  private u16(b: Buffer, o: number): number { return this.littleEndian ? b[o]! | (b[o + 1]! << 8) : (b[o]! << 8) | b[o + 1]!; }
  private u32(b: Buffer, o: number): number {
    return this.littleEndian ? (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 16777216
      : b[o]! * 16777216 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
  }

  parse(buf: Buffer, pos: number, end: number, fileOffset: number): number {
    const start = pos;
    for (;;) {
      const at = fileOffset + (pos - start);
      if (end - pos < 12) { this.need = 12; this.pending = 'block header'; return pos; }
      let type = this.u32(buf, pos);
      if (type === PCAPNG_SHB) {
        // The byte-order magic decides how to read this block's length and everything after it.
        const bom = buf.readUInt32LE(pos + 8);
        if (bom === PCAPNG_BYTE_ORDER_MAGIC) this.littleEndian = true;
        else if (buf.readUInt32BE(pos + 8) === PCAPNG_BYTE_ORDER_MAGIC) this.littleEndian = false;
        else { this.fail(WL_ERR_MALFORMED, at, `corrupt Section Header Block at byte ${at}: bad byte-order magic 0x${buf.readUInt32BE(pos + 8).toString(16)}`); return pos; }
        type = PCAPNG_SHB;
      } else if (this.sections === 0) {
        this.fail(WL_ERR_MALFORMED, at, `pcapng file does not start with a Section Header Block (found ${blockName(type)} at byte ${at})`);
        return pos;
      }
      const len = this.u32(buf, pos + 4);
      if (len < 12 || (len & 3) !== 0 || len > PCAPNG_MAX_BLOCK) {
        this.fail(WL_ERR_MALFORMED, at, `corrupt ${blockName(type)} at byte ${at}: block length ${len}`);
        return pos;
      }
      if (end - pos < len) { this.need = len; this.pending = blockName(type); return pos; }
      if (this.u32(buf, pos + len - 4) !== len) {
        this.fail(WL_ERR_MALFORMED, at, `corrupt ${blockName(type)} at byte ${at}: trailing length ${this.u32(buf, pos + len - 4)} differs from ${len}`);
        return pos;
      }
      let ok = true;
      switch (type) {
        case PCAPNG_SHB: ok = this.shb(buf, pos, len, at); break;
        case PCAPNG_IDB: ok = this.idb(buf, pos, len, at); break;
        case PCAPNG_EPB: ok = this.epb(buf, pos, len, at); break;
        case PCAPNG_SPB: ok = this.spb(buf, pos, len, at); break;
        case PCAPNG_PB: ok = this.pb(buf, pos, len, at); break;
        case PCAPNG_DSB: ok = this.dsb(buf, pos, len, at); break;
        default: break; // NRB, ISB, custom, unknown: skip
      }
      if (!ok) return pos;
      pos += len;
    }
  }

  private shb(buf: Buffer, pos: number, len: number, at: number): boolean {
    if (len < 28) { this.fail(WL_ERR_MALFORMED, at, `corrupt Section Header Block at byte ${at}: length ${len} < 28`); return false; }
    const major = this.u16(buf, pos + 12);
    if (major !== 1) { this.fail(WL_ERR_UNSUPPORTED, at, `unsupported pcapng version ${major}.${this.u16(buf, pos + 14)} at byte ${at}`); return false; }
    this.sections++;
    this.interfaces = [];
    return true;
  }

  private idb(buf: Buffer, pos: number, len: number, at: number): boolean {
    if (len < 20) { this.fail(WL_ERR_MALFORMED, at, `corrupt Interface Description Block at byte ${at}: length ${len} < 20`); return false; }
    const itf: PcapngInterface = {
      id: this.interfaces.length, linkType: this.u16(buf, pos + 8), snaplen: this.u32(buf, pos + 12),
      tsresol: 6, tsoffset: 0, kind: TsKind.Micro, mul: 1, unitsPerSecond: 1000000n, offsetUs: 0,
    };
    let bad: string | undefined;
    this.options(buf, pos + 16, pos + len - 4, (code, o, l) => {
      if (code === IF_NAME) itf.name = buf.toString('utf8', o, l > 0 && buf[o + l - 1] === 0 ? o + l - 1 : o + l);
      else if (code === IF_TSRESOL) { if (l >= 1) itf.tsresol = buf[o]!; else bad = 'empty if_tsresol'; }
      else if (code === IF_TSOFFSET) { if (l >= 8) itf.tsoffset = Number(this.littleEndian ? buf.readBigInt64LE(o) : buf.readBigInt64BE(o)); else bad = 'short if_tsoffset'; }
      else if (code === IF_FCSLEN) { if (l >= 1) itf.fcsLen = buf[o]!; }
    });
    if (bad !== undefined) { this.fail(WL_ERR_MALFORMED, at, `corrupt Interface Description Block at byte ${at}: ${bad}`); return false; }
    const r = itf.tsresol;
    if (r & 0x80) {
      const e = r & 0x7f;
      itf.kind = TsKind.Generic; itf.unitsPerSecond = 1n << BigInt(e);
    } else if (r === 6) itf.kind = TsKind.Micro;
    else if (r === 9) itf.kind = TsKind.Nano;
    else if (r < 6) { itf.kind = TsKind.DecimalCoarse; itf.mul = 10 ** (6 - r); }
    else { itf.kind = TsKind.Generic; itf.unitsPerSecond = 10n ** BigInt(r); }
    itf.offsetUs = itf.tsoffset * 1e6;
    this.interfaces.push(itf);
    return true;
  }

  /** Walk options in buf[o..end): code, value offset, value length. Stops at opt_endofopt or a bad length. */
  private options(buf: Buffer, o: number, end: number, fn: (code: number, off: number, len: number) => void): void {
    while (end - o >= 4) {
      const code = this.u16(buf, o);
      const l = this.u16(buf, o + 2);
      if (code === OPT_ENDOFOPT) return;
      if (o + 4 + l > end) return; // truncated option list: ignore the rest, as Wireshark does
      fn(code, o + 4, l);
      o += 4 + ((l + 3) & ~3);
    }
  }

  private tsUs(itf: PcapngInterface, hi: number, lo: number): number {
    let us: number;
    switch (itf.kind) {
      case TsKind.Micro: us = hi * 4294967296 + lo; break;
      // 2^32 = 4294967 × 1000 + 296: exact without BigInt for any realistic date.
      case TsKind.Nano: us = hi * 4294967 + Math.floor((hi * 296 + lo) / 1000); break;
      case TsKind.DecimalCoarse: us = (hi * 4294967296 + lo) * itf.mul; break;
      default: us = Number(((BigInt(hi) << 32n) | BigInt(lo)) * 1000000n / itf.unitsPerSecond);
    }
    return us + itf.offsetUs;
  }

  private iface(id: number, at: number, what: string): PcapngInterface | undefined {
    const itf = this.interfaces[id];
    if (itf === undefined) this.fail(WL_ERR_MALFORMED, at, `corrupt ${what} at byte ${at}: interface ${id} not defined (${this.interfaces.length} in this section)`);
    return itf;
  }

  private deliver(itf: PcapngInterface, tsUs: number, data: Buffer, origLen: number, direction: Direction | undefined): void {
    const f = this.frame;
    f.tsUs = tsUs;
    f.linkType = itf.linkType;
    f.data = data;
    f.origLen = origLen;
    f.ifindex = itf.id;
    f.ifname = itf.name;
    f.direction = direction;
    this.lastTsUs = tsUs;
    this.frames++;
    this.bytes += data.length;
    this.onFrame(f);
  }

  /** Direction from epb_flags / pack_flags bits 0–1 (01 inbound, 10 outbound). */
  private flagsDirection(buf: Buffer, o: number, end: number): Direction | undefined {
    let dir: Direction | undefined;
    this.options(buf, o, end, (code, vo, l) => {
      if (code === EPB_FLAGS && l >= 4) {
        const d = this.u32(buf, vo) & 3;
        dir = d === 1 ? 'in' : d === 2 ? 'out' : undefined;
      }
    });
    return dir;
  }

  private epb(buf: Buffer, pos: number, len: number, at: number): boolean {
    if (len < 32) { this.fail(WL_ERR_MALFORMED, at, `corrupt Enhanced Packet Block at byte ${at}: length ${len} < 32`); return false; }
    const caplen = this.u32(buf, pos + 20);
    const optStart = pos + 28 + ((caplen + 3) & ~3);
    if (caplen > len - 32 || optStart > pos + len - 4) {
      this.fail(WL_ERR_MALFORMED, at, `corrupt Enhanced Packet Block at byte ${at}: captured length ${caplen} does not fit in block length ${len}`);
      return false;
    }
    const itf = this.iface(this.u32(buf, pos + 8), at, 'Enhanced Packet Block');
    if (itf === undefined) return false;
    const ts = this.tsUs(itf, this.u32(buf, pos + 12), this.u32(buf, pos + 16));
    const dir = optStart < pos + len - 4 ? this.flagsDirection(buf, optStart, pos + len - 4) : undefined;
    this.deliver(itf, ts, buf.subarray(pos + 28, pos + 28 + caplen), this.u32(buf, pos + 24), dir);
    return true;
  }

  private pb(buf: Buffer, pos: number, len: number, at: number): boolean {
    if (len < 32) { this.fail(WL_ERR_MALFORMED, at, `corrupt Packet Block at byte ${at}: length ${len} < 32`); return false; }
    const caplen = this.u32(buf, pos + 20);
    const optStart = pos + 28 + ((caplen + 3) & ~3);
    if (caplen > len - 32 || optStart > pos + len - 4) {
      this.fail(WL_ERR_MALFORMED, at, `corrupt Packet Block at byte ${at}: captured length ${caplen} does not fit in block length ${len}`);
      return false;
    }
    const itf = this.iface(this.u16(buf, pos + 8), at, 'Packet Block');
    if (itf === undefined) return false;
    const ts = this.tsUs(itf, this.u32(buf, pos + 12), this.u32(buf, pos + 16));
    const dir = optStart < pos + len - 4 ? this.flagsDirection(buf, optStart, pos + len - 4) : undefined;
    this.deliver(itf, ts, buf.subarray(pos + 28, pos + 28 + caplen), this.u32(buf, pos + 24), dir);
    return true;
  }

  /** DSB: secrets type (u32), secrets length (u32), the secrets; handed over as they are (a view, valid during the call). */
  private dsb(buf: Buffer, pos: number, len: number, at: number): boolean {
    if (this.onSecrets === undefined) return true;
    const secretsLen = len >= 20 ? this.u32(buf, pos + 12) : -1;
    if (secretsLen < 0 || 16 + secretsLen + 4 > len) {
      this.fail(WL_ERR_MALFORMED, at, `corrupt Decryption Secrets Block at byte ${at}: secrets length ${secretsLen} in a block of ${len}`);
      return false;
    }
    this.onSecrets(this.u32(buf, pos + 8), buf.subarray(pos + 16, pos + 16 + secretsLen));
    return true;
  }

  /** SPB: no interface id (always 0), no timestamp (we reuse the last one), captured length implied. */
  private spb(buf: Buffer, pos: number, len: number, at: number): boolean {
    if (len < 16) { this.fail(WL_ERR_MALFORMED, at, `corrupt Simple Packet Block at byte ${at}: length ${len} < 16`); return false; }
    const itf = this.iface(0, at, 'Simple Packet Block');
    if (itf === undefined) return false;
    const origLen = this.u32(buf, pos + 8);
    let caplen = len - 16;
    if (origLen < caplen) caplen = origLen;
    if (itf.snaplen !== 0 && itf.snaplen < caplen) caplen = itf.snaplen;
    this.deliver(itf, this.lastTsUs, buf.subarray(pos + 12, pos + 12 + caplen), origLen, undefined);
    return true;
  }
}
