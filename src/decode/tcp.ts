/** TCP header view (RFC 9293); options are parsed only when asked for. */
import { DecodeError, malformed, truncated } from './errors.js';

const EMPTY = Buffer.alloc(0);

export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WSCALE = 3;
export const TCPOPT_SACK_PERMITTED = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMP = 8;

export class TcpView {
  static readonly MIN_HEADER_LEN = 20;
  buf: Buffer = EMPTY;
  off = 0;

  /** Point at buf[off] with captured bytes up to `end`: the whole header, options included, must be there. */
  reset(buf: Buffer, off: number, end: number = buf.length): DecodeError | undefined {
    this.buf = buf; this.off = off;
    const avail = end - off;
    if (avail < 20) return truncated('tcp', off, 20, avail);
    const hl = (buf[off + 12]! >> 4) * 4;
    if (hl < 20) return malformed('tcp', off, `data offset ${hl} < 20`, 20, hl);
    if (avail < hl) return truncated('tcp', off, hl, avail);
    return undefined;
  }

  get srcPort(): number { return this.buf.readUInt16BE(this.off); }
  get dstPort(): number { return this.buf.readUInt16BE(this.off + 2); }
  get seq(): number { return this.buf.readUInt32BE(this.off + 4); }
  get ack(): number { return this.buf.readUInt32BE(this.off + 8); }
  /** header length in bytes (data offset × 4) */
  get headerLen(): number { return (this.buf[this.off + 12]! >> 4) * 4; }
  /** FIN 0x01 … CWR 0x80, and NS (ECN nonce, RFC 3540) as 0x100 */
  get flags(): number { return ((this.buf[this.off + 12]! & 1) << 8) | this.buf[this.off + 13]!; }
  get fin(): boolean { return (this.buf[this.off + 13]! & 0x01) !== 0; }
  get syn(): boolean { return (this.buf[this.off + 13]! & 0x02) !== 0; }
  get rst(): boolean { return (this.buf[this.off + 13]! & 0x04) !== 0; }
  get psh(): boolean { return (this.buf[this.off + 13]! & 0x08) !== 0; }
  get ackFlag(): boolean { return (this.buf[this.off + 13]! & 0x10) !== 0; }
  get urg(): boolean { return (this.buf[this.off + 13]! & 0x20) !== 0; }
  /** raw window field (unscaled) */
  get window(): number { return this.buf.readUInt16BE(this.off + 14); }
  get checksum(): number { return this.buf.readUInt16BE(this.off + 16); }
  get urgentPointer(): number { return this.buf.readUInt16BE(this.off + 18); }
  get options(): Buffer { return this.buf.subarray(this.off + 20, this.off + this.headerLen); }
  get payloadOffset(): number { return this.off + this.headerLen; }
}

export interface TcpOptions {
  mss?: number;
  windowScale?: number;
  sackPermitted?: boolean;
  /** SACK blocks as [left, right) edge pairs */
  sack?: Array<[number, number]>;
  timestamp?: { value: number; echo: number };
  /** options we do not interpret: kind and raw bytes (view) */
  other?: Array<{ kind: number; data: Buffer }>;
}

/**
 * Visit each option of a validated view: `fn(kind, offset, length)` with offset/length covering the whole option.
 * Returns an error for a length that is < 2 or overruns the header.
 */
export function forEachTcpOption(v: TcpView, fn: (kind: number, offset: number, length: number) => void): DecodeError | undefined {
  const buf = v.buf;
  const end = v.off + v.headerLen;
  let o = v.off + 20;
  while (o < end) {
    const k = buf[o]!;
    if (k === TCPOPT_EOL) return undefined;
    if (k === TCPOPT_NOP) { o++; continue; }
    if (o + 1 >= end) return malformed('tcp', o, `option ${k} has no length byte`);
    const len = buf[o + 1]!;
    if (len < 2 || o + len > end) return malformed('tcp', o, `option ${k} length ${len} does not fit`, len, end - o);
    fn(k, o, len);
    o += len;
  }
  return undefined;
}

/** Parse the options of a validated view. An option with the wrong fixed length is an error. */
export function tcpOptions(v: TcpView): TcpOptions | DecodeError {
  const r: TcpOptions = {};
  const buf = v.buf;
  let bad: DecodeError | undefined;
  const err = forEachTcpOption(v, (k, o, len) => {
    if (bad) return;
    const want = k === TCPOPT_MSS ? 4 : k === TCPOPT_WSCALE ? 3 : k === TCPOPT_SACK_PERMITTED ? 2 : k === TCPOPT_TIMESTAMP ? 10 : -1;
    if (want > 0 && len !== want) { bad = malformed('tcp', o, `option ${k} length ${len}, expected ${want}`, want, len); return; }
    switch (k) {
      case TCPOPT_MSS: r.mss = buf.readUInt16BE(o + 2); break;
      case TCPOPT_WSCALE: r.windowScale = buf[o + 2]!; break;
      case TCPOPT_SACK_PERMITTED: r.sackPermitted = true; break;
      case TCPOPT_TIMESTAMP: r.timestamp = { value: buf.readUInt32BE(o + 2), echo: buf.readUInt32BE(o + 6) }; break;
      case TCPOPT_SACK: {
        if ((len - 2) % 8 !== 0) { bad = malformed('tcp', o, `SACK option length ${len} is not 2 + 8n`); return; }
        const blocks: Array<[number, number]> = [];
        for (let p = o + 2; p < o + len; p += 8) blocks.push([buf.readUInt32BE(p), buf.readUInt32BE(p + 4)]);
        r.sack = blocks;
        break;
      }
      default: (r.other ??= []).push({ kind: k, data: buf.subarray(o + 2, o + len) });
    }
  });
  return err ?? bad ?? r;
}
