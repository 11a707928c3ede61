/**
 * Incremental pcap parser (the libpcap "savefile" format): both byte orders, microsecond (0xa1b2c3d4) and
 * nanosecond (0xa1b23c4d) magic, snaplen, link type with the FCS bits of the link-type field.
 * Fed with byte ranges; consumes only complete records and says how many bytes the next one needs.
 */
import type { Frame } from '../records.js';
import { WL_ERR_MALFORMED, WL_ERR_UNSUPPORTED, type DecodeErrorCode } from './errors.js';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** Alexey Kuznetzov's patched format: records carry 8 more bytes. Recognised, to name it in the error. */
export const PCAP_MAGIC_KUZNETZOV = 0xa1b2cd34;
export const PCAP_FILE_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
/** libpcap refuses records bigger than max(snaplen, this); so do we (a huge caplen means a corrupt file). */
export const PCAP_MAX_SNAPLEN = 262144;

export type FrameCallback = (f: Frame) => void;

/** What a parser reports when it stops on bad data (the reader adds the file name). */
export interface ParseFailure { code: DecodeErrorCode; offset: number; message: string }

/** Shared shape of the pcap and pcapng parsers, used by capture-file.ts. */
export interface CaptureParser {
  readonly format: 'pcap' | 'pcapng';
  frames: number;
  /** captured packet bytes delivered (sum of frame data lengths) */
  bytes: number;
  /** set when parsing stopped on corrupt or unsupported data */
  failure: ParseFailure | undefined;
  /** when parse() stopped short of `end`: total bytes the pending item needs from where it stopped */
  need: number;
  /** what the pending item is, for the truncation message ("packet record", "Enhanced Packet Block") */
  pending: string;
  /**
   * Parse complete items in buf[pos..end); `fileOffset` is the file offset of buf[pos]. Calls onFrame for each
   * frame; returns the position after the last complete item (stopping earlier on failure).
   */
  parse(buf: Buffer, pos: number, end: number, fileOffset: number): number;
}

// Buffer#readUInt32* validate their argument on every call; in the per-record loop plain index arithmetic is ~4x faster.
function u32le(b: Buffer, o: number): number { return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 16777216; }
function u32be(b: Buffer, o: number): number { return b[o]! * 16777216 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!); }

export class PcapParser implements CaptureParser {
  readonly format = 'pcap' as const;
  frames = 0;
  bytes = 0;
  failure: ParseFailure | undefined = undefined;
  need = PCAP_FILE_HEADER_LEN;
  pending = 'pcap file header';

  headerDone = false;
  littleEndian = true;
  nanosecond = false;
  versionMajor = 0;
  versionMinor = 0;
  snaplen = 0;
  /** LINKTYPE_ value (low 16 bits of the header field) */
  linkType = 0;
  /** FCS bytes at the end of each packet, from the link-type field's FCS bits (0 when not stated) */
  fcsLen = 0;
  private maxCaplen = PCAP_MAX_SNAPLEN;
  private readonly frame: Frame = { tsUs: 0, linkType: 0, data: Buffer.alloc(0), origLen: 0, ifindex: 0, ifname: undefined, direction: undefined };

  constructor(private readonly onFrame: FrameCallback) {}

  private fail(code: DecodeErrorCode, offset: number, message: string): void {
    this.failure = { code, offset, message };
  }

  private parseHeader(buf: Buffer, pos: number, fileOffset: number): boolean {
    const be = buf.readUInt32BE(pos);
    const le = buf.readUInt32LE(pos);
    if (be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS) { this.littleEndian = false; this.nanosecond = be === PCAP_MAGIC_NS; }
    else if (le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS) { this.littleEndian = true; this.nanosecond = le === PCAP_MAGIC_NS; }
    else if (be === PCAP_MAGIC_KUZNETZOV || le === PCAP_MAGIC_KUZNETZOV) {
      this.fail(WL_ERR_UNSUPPORTED, fileOffset, `unsupported pcap variant at byte ${fileOffset}: Kuznetzov modified pcap (magic 0xa1b2cd34); convert with editcap`);
      return false;
    } else {
      this.fail(WL_ERR_MALFORMED, fileOffset, `bad pcap magic 0x${be.toString(16).padStart(8, '0')} at byte ${fileOffset}`);
      return false;
    }
    const r16 = this.littleEndian ? buf.readUInt16LE.bind(buf) : buf.readUInt16BE.bind(buf);
    const r32 = this.littleEndian ? buf.readUInt32LE.bind(buf) : buf.readUInt32BE.bind(buf);
    this.versionMajor = r16(pos + 4);
    this.versionMinor = r16(pos + 6);
    if (this.versionMajor !== 2) {
      this.fail(WL_ERR_UNSUPPORTED, fileOffset + 4, `unsupported pcap version ${this.versionMajor}.${this.versionMinor} at byte ${fileOffset + 4}`);
      return false;
    }
    this.snaplen = r32(pos + 16);
    const lt = r32(pos + 20);
    this.linkType = lt & 0xffff;
    // Bits 26..31 (pcap-savefile(5)): F flag at bit 26, FCS length in 16-bit words in bits 28..31.
    this.fcsLen = (lt & 0x04000000) !== 0 ? ((lt >>> 28) & 0xf) * 2 : 0;
    this.maxCaplen = Math.max(this.snaplen, PCAP_MAX_SNAPLEN);
    this.frame.linkType = this.linkType;
    this.headerDone = true;
    return true;
  }

  parse(buf: Buffer, pos: number, end: number, fileOffset: number): number {
    const start = pos;
    if (!this.headerDone) {
      if (end - pos < PCAP_FILE_HEADER_LEN) { this.need = PCAP_FILE_HEADER_LEN; this.pending = 'pcap file header'; return pos; }
      if (!this.parseHeader(buf, pos, fileOffset)) return pos;
      pos += PCAP_FILE_HEADER_LEN;
    }
    const f = this.frame;
    const onFrame = this.onFrame;
    const max = this.maxCaplen;
    const ns = this.nanosecond;
    const le = this.littleEndian;
    let frames = this.frames, bytes = this.bytes;
    try {
      for (;;) {
        if (end - pos < 16) { this.need = 16; this.pending = 'packet record header'; break; }
        const caplen = le ? u32le(buf, pos + 8) : u32be(buf, pos + 8);
        if (caplen > max) {
          const at = fileOffset + (pos - start);
          this.fail(WL_ERR_MALFORMED, at, `corrupt packet record at byte ${at}: captured length ${caplen} exceeds the maximum ${max}`);
          break;
        }
        if (end - pos < 16 + caplen) { this.need = 16 + caplen; this.pending = 'packet record'; break; }
        const sec = le ? u32le(buf, pos) : u32be(buf, pos);
        const sub = le ? u32le(buf, pos + 4) : u32be(buf, pos + 4);
        f.tsUs = sec * 1e6 + (ns ? Math.floor(sub / 1000) : sub);
        f.origLen = le ? u32le(buf, pos + 12) : u32be(buf, pos + 12);
        f.data = buf.subarray(pos + 16, pos + 16 + caplen);
        pos += 16 + caplen;
        frames++;
        bytes += caplen;
        onFrame(f);
      }
    } finally {
      this.frames = frames;
      this.bytes = bytes;
    }
    return pos;
  }
}
