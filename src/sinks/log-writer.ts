/**
 * Line writers for the sinks: stdout, or daily files in a directory (one a day, or four with split: CQ, CR, SQ,
 * SR). Lines are coalesced into ~64 KiB writes done with fs.writeSync, so a line is either wholly written or not
 * at all, and close() leaves nothing behind. Failures are recorded, not thrown: the pipeline checks `failure` /
 * `closed` and stops (throwing from inside the tracker's callbacks would cut a packet's processing in half).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { LineKind } from '../records.js';
import { LocalTimeFormatter, type OffsetFn } from './local-time.js';
import { mkdirp } from './mkdirp.js';
import { WirelogError } from '../errors.js';

/** What the formatting sinks write to. `line` has no newline; `tsUs` is the line's own time (picks the day file). */
export interface LineSink {
  write(line: string, tsUs: number, kind: LineKind): void;
}

/**
 * A LineSink that also takes a line as bytes, encoded by the caller straight into the pending buffer (the text
 * sink's fast path: no line string to build, flatten and encode). The bytes must be what write(line) would write.
 */
export interface ByteLineSink extends LineSink {
  /**
   * Room for one line of at most `maxBytes` bytes, newline included, in the output that `tsUs` and `kind` pick: the
   * buffer to write it into from `lineStart`, or undefined when it cannot be taken this way (too big, or the
   * writer is done): then the caller uses write().
   */
  reserveLine(maxBytes: number, tsUs: number, kind: LineKind): Buffer | undefined;
  /** where the reserved line starts */
  readonly lineStart: number;
  /** the reserved line was written up to `end` (exclusive, newline included) */
  commitLine(end: number): void;
}

export function isByteLineSink(s: LineSink): s is ByteLineSink {
  return typeof (s as Partial<ByteLineSink>).reserveLine === 'function';
}

export interface WriterFailure {
  code: 'WL_ERR_LOG_WRITE' | 'WL_ERR_LOG_OPEN';
  file: string;
  message: string;
}

export interface LogWriter extends LineSink {
  /** write out everything buffered */
  flush(): void;
  /** flush and release files; further writes are ignored */
  close(): void;
  /** set when a write or open failed; the run should end with this error */
  readonly failure: WriterFailure | undefined;
  /** the reader went away (stdout EPIPE): the run should end quietly */
  readonly outputClosed: boolean;
  /** lines accepted so far */
  readonly lines: number;
}

/** Raised by createDirWriter when DIR cannot be created or written (before any traffic is read). */
export class LogDirError extends WirelogError {
  constructor(
    readonly dir: string,
    cause: unknown,
  ) {
    super('WL_ERR_LOG_DIR', `cannot write log directory ${dir}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

export const COALESCE_BYTES = 64 * 1024;

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Write all of `buf` to `fd`, looping over short writes and waiting out EAGAIN (a non-blocking pipe). */
export function writeFully(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(sleepCell, 0, 0, 2); // the reader is slow; a short sleep instead of a spin
        continue;
      }
      throw err;
    }
  }
}

/** Buffer#utf8Write: encodes straight into our buffer (not in @types/node). */
interface Utf8Writer {
  utf8Write(s: string, offset: number): number;
}

/** Room for a pending buffer: the coalescing size plus one typical line's worst case. */
const OUTPUT_BUF_BYTES = COALESCE_BYTES + 16 * 1024;

/**
 * One output file (or stdout) with its pending bytes. Lines are UTF-8 encoded into `buf` as they come rather than
 * appended to a string: a 64 KiB string of hundreds of short-lived line pieces survives young-generation GCs (each
 * copies it) and is flattened once more at write time.
 */
class Output {
  buf: Buffer | undefined = undefined;
  len = 0;
  used = 0; // LRU stamp
  constructor(
    readonly name: string,
    public fd: number,
  ) {}
}

abstract class BaseWriter implements LogWriter, ByteLineSink {
  failure: WriterFailure | undefined;
  outputClosed = false;
  lines = 0;
  lineStart = 0;
  protected done = false;
  /** the output of the line reserved last */
  private reserved: Output | undefined;

  abstract write(line: string, tsUs: number, kind: LineKind): void;
  abstract flush(): void;
  abstract close(): void;

  protected append(out: Output, line: string): void {
    const max = line.length * 3 + 1; // UTF-8 bytes of a UTF-16 unit: at most 3
    let buf = out.buf;
    if (buf === undefined) out.buf = buf = Buffer.allocUnsafeSlow(OUTPUT_BUF_BYTES);
    if (out.len + max > buf.length) {
      this.flushOutput(out);
      if (max > buf.length) {
        // a line bigger than the buffer goes out on its own, whole
        this.lines++;
        this.writeOut(out, Buffer.from(line + '\n', 'utf8'));
        return;
      }
    }
    out.len += (buf as unknown as Utf8Writer).utf8Write(line, out.len);
    buf[out.len++] = 0x0a;
    this.lines++;
    if (out.len >= COALESCE_BYTES) this.flushOutput(out);
  }

  abstract reserveLine(maxBytes: number, tsUs: number, kind: LineKind): Buffer | undefined;

  /** reserveLine() for a chosen output: the same steps as append() up to the encoding */
  protected reserveIn(out: Output, maxBytes: number): Buffer | undefined {
    let buf = out.buf;
    if (buf === undefined) out.buf = buf = Buffer.allocUnsafeSlow(OUTPUT_BUF_BYTES);
    if (out.len + maxBytes > buf.length) this.flushOutput(out);
    this.reserved = out;
    this.lineStart = out.len;
    return buf;
  }

  commitLine(end: number): void {
    const out = this.reserved!;
    this.reserved = undefined;
    out.len = end;
    this.lines++;
    if (out.len >= COALESCE_BYTES) this.flushOutput(out);
  }

  protected flushOutput(out: Output): void {
    if (out.len === 0 || out.buf === undefined) return;
    const n = out.len;
    out.len = 0;
    this.writeOut(out, out.buf.subarray(0, n));
  }

  private writeOut(out: Output, data: Buffer): void {
    if (this.done && out.fd < 0) return;
    try {
      writeFully(out.fd, data);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.done = true;
      if (e.code === 'EPIPE' && out.fd === 1) {
        this.outputClosed = true; // `| head` went away: not an error
      } else {
        this.failure = { code: 'WL_ERR_LOG_WRITE', file: out.name, message: `${out.name}: ${e.message}` };
      }
    }
  }
}

/** Lines to stdout (fd 1), coalesced. */
export class StdoutWriter extends BaseWriter {
  private readonly out: Output;

  constructor(fd = 1, name = 'stdout') {
    super();
    this.out = new Output(name, fd);
  }

  write(line: string, _tsUs: number, _kind: LineKind): void {
    if (this.done) return;
    this.append(this.out, line);
  }

  reserveLine(maxBytes: number, _tsUs: number, _kind: LineKind): Buffer | undefined {
    if (this.done || maxBytes > OUTPUT_BUF_BYTES) return undefined;
    return this.reserveIn(this.out, maxBytes);
  }

  flush(): void {
    if (!this.done) this.flushOutput(this.out);
  }

  close(): void {
    this.flush();
    this.done = true;
  }
}

export interface DirWriterOptions {
  dir: string;
  /** four files a day, by line kind */
  split?: boolean;
  /** file extension: 'log' (text) or 'jsonl' */
  ext?: string;
  /** local time zone (tests inject one) */
  offset?: OffsetFn;
  /** most files open at once; older ones are flushed and closed (replays that straddle midnight reopen them) */
  maxOpen?: number;
}

/** The file name of a line: `http-YYYYMMDD.log`, or `http-CQ-YYYYMMDD.log` with split. */
export function logFileName(day: string, kind: LineKind, split: boolean, ext = 'log'): string {
  return split ? `http-${kind}-${day}.${ext}` : `http-${day}.${ext}`;
}

const KIND_INDEX: Record<LineKind, number> = { CQ: 0, CR: 1, SQ: 2, SR: 3 };

/**
 * Daily files in a directory. The day is the line's own local date, not the wall clock's, so a replay of an old
 * capture fills that capture's days; live, line time is now, which makes this rotation at local midnight.
 */
export class DirWriter extends BaseWriter {
  readonly dir: string;
  private readonly split: boolean;
  private readonly ext: string;
  private readonly maxOpen: number;
  private readonly time: LocalTimeFormatter;
  private readonly open = new Map<string, Output>();
  private clock = 0;
  // fast path: the current day's outputs by kind
  private curDay = '';
  private readonly cur: Array<Output | undefined> = [undefined, undefined, undefined, undefined];

  constructor(opts: DirWriterOptions) {
    super();
    this.dir = opts.dir;
    this.split = opts.split ?? false;
    this.ext = opts.ext ?? 'log';
    this.maxOpen = Math.max(1, opts.maxOpen ?? 8);
    this.time = new LocalTimeFormatter(opts.offset);
    try {
      mkdirp(this.dir);
      if (!fs.statSync(this.dir).isDirectory()) throw new Error('not a directory');
      fs.accessSync(this.dir, fs.constants.W_OK);
    } catch (err) {
      throw new LogDirError(this.dir, err);
    }
  }

  write(line: string, tsUs: number, kind: LineKind): void {
    const out = this.pick(tsUs, kind);
    if (out !== undefined) this.append(out, line);
  }

  reserveLine(maxBytes: number, tsUs: number, kind: LineKind): Buffer | undefined {
    if (this.done || maxBytes > OUTPUT_BUF_BYTES) return undefined;
    const out = this.pick(tsUs, kind);
    return out === undefined ? undefined : this.reserveIn(out, maxBytes);
  }

  /** The output of a line (opened if needed), or undefined when the writer is done or the file cannot be opened. */
  private pick(tsUs: number, kind: LineKind): Output | undefined {
    if (this.done) return undefined;
    const day = this.time.day(tsUs);
    if (day !== this.curDay) {
      this.curDay = day;
      this.cur.fill(undefined);
    }
    const k = this.split ? KIND_INDEX[kind] : 0;
    let out = this.cur[k];
    if (out === undefined || out.fd < 0) {
      out = this.output(logFileName(day, kind, this.split, this.ext));
      if (out === undefined) return undefined;
      this.cur[k] = out;
    }
    out.used = ++this.clock;
    return out;
  }

  /**
   * Opens the files of the day of tsUs now (every kind with split), before any line: a live run started as root
   * opens them before it drops to --user (src/cli/privileges.ts), as tcpdump -Z opens its -w file.
   */
  openDay(tsUs: number): void {
    const day = this.time.day(tsUs);
    const kinds: LineKind[] = this.split ? ['CQ', 'CR', 'SQ', 'SR'] : ['CQ'];
    for (const kind of kinds) this.output(logFileName(day, kind, this.split, this.ext));
  }

  /** Names of the files written so far, open or closed (tests, diagnostics). */
  private readonly seen = new Set<string>();
  get files(): string[] {
    return [...this.seen].sort();
  }

  private output(name: string): Output | undefined {
    const existing = this.open.get(name);
    if (existing !== undefined) return existing;
    if (this.open.size >= this.maxOpen) this.closeOldest();
    const file = path.join(this.dir, name);
    let fd: number;
    try {
      fd = fs.openSync(file, 'a', 0o644); // append: a restart the same day continues the day's file
    } catch (err) {
      this.done = true;
      this.failure = { code: 'WL_ERR_LOG_OPEN', file, message: `${file}: ${(err as Error).message}` };
      return undefined;
    }
    const out = new Output(file, fd);
    this.open.set(name, out);
    this.seen.add(name);
    return out;
  }

  private closeOldest(): void {
    let oldestName: string | undefined;
    let oldest: Output | undefined;
    for (const [name, out] of this.open) {
      if (oldest === undefined || out.used < oldest.used) {
        oldest = out;
        oldestName = name;
      }
    }
    if (oldest === undefined || oldestName === undefined) return;
    this.flushOutput(oldest);
    fs.closeSync(oldest.fd);
    oldest.fd = -1; // the day cache may still point at it; -1 makes write() reopen
    this.open.delete(oldestName);
  }

  flush(): void {
    if (this.done) return;
    for (const out of this.open.values()) {
      this.flushOutput(out);
      if (this.done) return;
    }
  }

  close(): void {
    this.flush();
    this.done = true;
    for (const out of this.open.values()) {
      try {
        fs.closeSync(out.fd);
      } catch {
        /* already failed; the failure is recorded */
      }
      out.fd = -1;
    }
    this.open.clear();
  }
}

export function createLogWriter(opts: { dir?: string; split?: boolean; ext?: string; offset?: OffsetFn }): LogWriter {
  if (opts.dir === undefined || opts.dir === '') return new StdoutWriter();
  return new DirWriter({ dir: opts.dir, split: opts.split, ext: opts.ext, offset: opts.offset });
}
