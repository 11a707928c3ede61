/**
 * A minimal buffered pcap writer (classic libpcap format, little-endian, µs or ns timestamps). Synchronous:
 * records are coalesced in a 64 KiB buffer and written with writeSync; close() flushes. Used by tests to build
 * fixtures and by features that save traffic.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export interface PcapWriterOptions {
  /** LINKTYPE_ value (default 1, Ethernet) */
  linkType?: number;
  /** largest captured length written; longer packets are cut (default 262144) */
  snaplen?: number;
  /** write the nanosecond-resolution magic (0xa1b23c4d) */
  nanosecond?: boolean;
}

const BUF_SIZE = 64 * 1024;

export class PcapWriter {
  readonly linkType: number;
  readonly snaplen: number;
  readonly nanosecond: boolean;
  /** records written */
  packets = 0;
  private fd: number;
  private buf = Buffer.allocUnsafe(BUF_SIZE);
  private len = 0;

  constructor(path: string, opts?: PcapWriterOptions) {
    this.linkType = opts?.linkType ?? 1;
    this.snaplen = opts?.snaplen ?? 262144;
    this.nanosecond = opts?.nanosecond ?? false;
    this.fd = openSync(path, 'w');
    const h = Buffer.alloc(24);
    h.writeUInt32LE(this.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeUInt32LE(this.snaplen, 16);
    h.writeUInt32LE(this.linkType, 20);
    this.append(h);
  }

  private append(b: Buffer): void {
    if (this.len + b.length > this.buf.length) this.flush();
    if (b.length > this.buf.length) { writeSync(this.fd, b); return; }
    b.copy(this.buf, this.len);
    this.len += b.length;
  }

  /** Write one packet. `tsUs`: µs since the epoch; `origLen`: wire length (default data.length). */
  write(tsUs: number, data: Buffer, origLen: number = data.length): void {
    if (this.fd < 0) throw new Error('PcapWriter: write after close');
    const caplen = Math.min(data.length, this.snaplen);
    const sec = Math.floor(tsUs / 1e6);
    const us = tsUs - sec * 1e6;
    if (this.len + 16 > this.buf.length) this.flush();
    const b = this.buf;
    b.writeUInt32LE(sec >>> 0, this.len);
    b.writeUInt32LE(this.nanosecond ? Math.round(us * 1000) : Math.floor(us), this.len + 4);
    b.writeUInt32LE(caplen, this.len + 8);
    b.writeUInt32LE(Math.max(origLen, caplen), this.len + 12);
    this.len += 16;
    this.append(caplen === data.length ? data : data.subarray(0, caplen));
    this.packets++;
  }

  flush(): void {
    if (this.len > 0 && this.fd >= 0) {
      let off = 0;
      while (off < this.len) off += writeSync(this.fd, this.buf, off, this.len - off);
      this.len = 0;
    }
  }

  close(): void {
    if (this.fd < 0) return;
    this.flush();
    closeSync(this.fd);
    this.fd = -1;
  }
}
