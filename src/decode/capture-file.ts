/**
 * Read pcap / pcapng files (or streams) in large chunks and hand every complete frame to a callback, in order.
 * The file is never read whole: a chunk buffer holds complete records plus at most one partial record, which is
 * moved to the front before the next read (the only copy; the buffer grows only for a record bigger than it).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Frame } from '../records.js';
import { WL_ERR_IO, WL_ERR_TRUNCATED, WL_ERR_UNSUPPORTED, type DecodeErrorCode } from './errors.js';
import { PCAP_MAGIC_KUZNETZOV, PCAP_MAGIC_NS, PCAP_MAGIC_US, PcapParser, type CaptureParser } from './pcap.js';
import { PCAPNG_SHB, PcapngParser } from './pcapng.js';

export interface CaptureFileSummary {
  format: 'pcap' | 'pcapng';
  /** frames delivered */
  frames: number;
  /** captured packet bytes delivered (sum of Frame.data lengths, like capinfos' "data size") */
  bytes: number;
  /** why reading stopped early; every complete frame before `offset` was delivered */
  error?: { code: DecodeErrorCode; file: string; offset: number; message: string };
}

export interface CaptureReadOptions {
  /** read size in bytes (default 1 MiB) */
  chunkSize?: number;
  /** after each read: the bytes read so far (for a progress line; called at most once per chunk) */
  onRead?: (bytesRead: number) => void;
  /** once the input is open, before its first byte is parsed (the CLI drops root there: src/cli/privileges.ts) */
  afterOpen?: () => void;
  /** pcapng Decryption Secrets Blocks: secrets type and data (a view valid during the call) */
  onSecrets?: (type: number, data: Buffer) => void;
}

export const DEFAULT_CHUNK_SIZE = 1 << 20;

function hex8(v: number): string { return v.toString(16).padStart(8, '0'); }

/** The format-independent part: magic detection, then delegation to the format's parser. */
class CaptureCore {
  parser: CaptureParser | undefined;
  error: CaptureFileSummary['error'];

  constructor(private readonly file: string, private readonly onFrame: (f: Frame) => void, private readonly onSecrets?: (type: number, data: Buffer) => void) {}

  /** Bytes needed from the current position to make progress. */
  get need(): number { return this.parser ? this.parser.need : 4; }

  /** Parse buf[pos..end) (file offset of buf[pos] is fileOffset); returns the new position. */
  feed(buf: Buffer, pos: number, end: number, fileOffset: number): number {
    if (this.parser === undefined) {
      if (end - pos < 4) return pos;
      const be = buf.readUInt32BE(pos), le = buf.readUInt32LE(pos);
      if (be === PCAPNG_SHB) this.parser = new PcapngParser(this.onFrame, this.onSecrets);
      else if (be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS || le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS ||
        be === PCAP_MAGIC_KUZNETZOV || le === PCAP_MAGIC_KUZNETZOV) this.parser = new PcapParser(this.onFrame);
      else {
        const hint = (be >>> 16) === 0x1f8b ? ' (gzip-compressed: decompress it first)' : '';
        this.error = { code: WL_ERR_UNSUPPORTED, file: this.file, offset: fileOffset,
          message: `${this.file}: unknown capture file magic 0x${hex8(be)} at byte ${fileOffset}${hint}; expected pcap (a1b2c3d4, a1b23c4d) or pcapng (0a0d0d0a)` };
        return pos;
      }
    }
    const p = this.parser;
    const np = p.parse(buf, pos, end, fileOffset);
    if (p.failure !== undefined && this.error === undefined) {
      this.error = { code: p.failure.code, file: this.file, offset: p.failure.offset, message: `${this.file}: ${p.failure.message}` };
    }
    return np;
  }

  /** End of input with `left` unparsed bytes starting at file offset `at`. */
  finish(left: number, at: number): CaptureFileSummary {
    if (this.error === undefined && left > 0) {
      const need = this.need;
      const what = this.parser ? this.parser.pending : 'file header';
      this.error = { code: WL_ERR_TRUNCATED, file: this.file, offset: at,
        message: `${this.file}: truncated ${what} at byte ${at} (needs ${need} bytes, ${left} left)` };
    } else if (this.error === undefined && this.parser === undefined) {
      this.error = { code: WL_ERR_TRUNCATED, file: this.file, offset: 0, message: `${this.file}: empty file: no capture file header` };
    }
    const s: CaptureFileSummary = {
      format: this.parser?.format ?? 'pcap',
      frames: this.parser?.frames ?? 0,
      bytes: this.parser?.bytes ?? 0,
    };
    if (this.error !== undefined) s.error = this.error;
    return s;
  }
}

/** A growable chunk buffer: [0, have) holds unparsed bytes starting at file offset `base`. */
class ChunkBuffer {
  buf: Buffer;
  have = 0;
  base = 0;
  constructor(size: number) { this.buf = Buffer.allocUnsafe(size); }

  /** Parse what is there; keep the unparsed tail at the front. Returns false when parsing failed. */
  drain(core: CaptureCore): boolean {
    const used = core.feed(this.buf, 0, this.have, this.base);
    if (core.error !== undefined) { this.base += used; this.have -= used; return false; }
    if (used > 0) {
      if (used < this.have) this.buf.copyWithin(0, used, this.have);
      this.have -= used;
      this.base += used;
    }
    // A record bigger than the buffer: grow to fit it (its length was bounded by the parser's sanity limits).
    const need = core.need;
    if (need > this.buf.length) {
      const nb = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(nb, 0, 0, this.have);
      this.buf = nb;
    }
    return true;
  }
}

/**
 * Read a pcap or pcapng file synchronously, calling onFrame for each complete frame in file order. The Frame
 * object and its data are reused/overwritten after the callback returns. Stops at the first truncated or corrupt
 * block and reports it in `error` (file, byte offset) after delivering every complete frame before it.
 * I/O errors (missing file, …) are reported the same way with code WL_ERR_IO. Exceptions thrown by onFrame
 * propagate (the file is closed).
 */
export function readCaptureFile(path: string, onFrame: (f: Frame) => void, opts?: CaptureReadOptions): CaptureFileSummary {
  const core = new CaptureCore(path, onFrame, opts?.onSecrets);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { format: 'pcap', frames: 0, bytes: 0, error: { code: WL_ERR_IO, file: path, offset: 0, message: `${path}: cannot open: ${msg}` } };
  }
  try {
    opts?.afterOpen?.();
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  const cb = new ChunkBuffer(Math.max(opts?.chunkSize ?? DEFAULT_CHUNK_SIZE, 64));
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, cb.buf, cb.have, cb.buf.length - cb.have, null);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        const s = core.finish(0, cb.base + cb.have);
        s.error = { code: WL_ERR_IO, file: path, offset: cb.base + cb.have, message: `${path}: read error at byte ${cb.base + cb.have}: ${msg}` };
        return s;
      }
      if (n === 0) return core.finish(cb.have, cb.base);
      cb.have += n;
      if (!cb.drain(core)) return core.finish(0, cb.base);
      opts?.onRead?.(cb.base + cb.have);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The same over a readable stream (e.g. process.stdin for `-`): chunks are appended to one growing buffer and
 * parsed as they come. Resolves with the summary at end of stream or at the first corrupt block (the stream is
 * then destroyed).
 */
export async function readCaptureStream(input: Readable, onFrame: (f: Frame) => void, opts?: CaptureReadOptions & { name?: string }): Promise<CaptureFileSummary> {
  const name = opts?.name ?? '-';
  opts?.afterOpen?.(); // the stream is open already: before its first byte is read
  const core = new CaptureCore(name, onFrame, opts?.onSecrets);
  const cb = new ChunkBuffer(Math.max(opts?.chunkSize ?? DEFAULT_CHUNK_SIZE, 64));
  let inCallback = false; // exceptions from onFrame propagate; only stream errors become WL_ERR_IO
  try {
    for await (const chunk of input) {
      const c: Buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : (chunk as Buffer);
      let off = 0;
      while (off < c.length) {
        const n = Math.min(c.length - off, cb.buf.length - cb.have);
        c.copy(cb.buf, cb.have, off, off + n);
        cb.have += n;
        off += n;
        inCallback = true;
        const ok = cb.drain(core);
        inCallback = false;
        if (!ok) { input.destroy(); return core.finish(0, cb.base); }
      }
      opts?.onRead?.(cb.base + cb.have);
    }
  } catch (e) {
    if (inCallback) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    const s = core.finish(0, cb.base + cb.have);
    s.error = { code: WL_ERR_IO, file: name, offset: cb.base + cb.have, message: `${name}: read error at byte ${cb.base + cb.have}: ${msg}` };
    return s;
  }
  return core.finish(cb.have, cb.base);
}
