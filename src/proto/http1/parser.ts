/**
 * One direction's HTTP/1.x stream, incrementally.
 *
 * `Http1Parser` is fed one direction's reassembled bytes in any split (down to 1-byte chunks) and reports heads,
 * body byte counts (bodies are skipped by counting, never copied) and message ends to an `Http1Handler`. A head
 * that arrives whole in one chunk is parsed in place; only a head split across chunks is copied, into one
 * reusable buffer per direction.
 */
import type { DecodeErrorInfo, HttpRequestHead, HttpResponseHead } from '../../records.js';
import { CR, LF } from './syntax.js';
import { HTTP_START_NONE, SL_COMPLETE, SL_NO, looksLikeHttpStart, startLineState, type Http1Role } from './sniff.js';
import { framing, parseRequestHead, parseResponseHead, scanHeadEnd } from './head.js';
import { BODY_CHUNKED, BODY_LENGTH, BODY_TUNNEL, BODY_UNTIL_CLOSE, requestBodyMode, responseBodyMode, type BodyMode } from './framing.js';

/** Stable error codes. */
export const WL_ERR_HTTP_BAD_START_LINE = 'WL_ERR_HTTP_BAD_START_LINE';
export const WL_ERR_HTTP_HEAD_TOO_LARGE = 'WL_ERR_HTTP_HEAD_TOO_LARGE';
export const WL_ERR_HTTP_BAD_CHUNK = 'WL_ERR_HTTP_BAD_CHUNK';
export const WL_ERR_HTTP_BAD_FRAMING = 'WL_ERR_HTTP_BAD_FRAMING';
export type Http1ErrorCode =
  | typeof WL_ERR_HTTP_BAD_START_LINE
  | typeof WL_ERR_HTTP_HEAD_TOO_LARGE
  | typeof WL_ERR_HTTP_BAD_CHUNK
  | typeof WL_ERR_HTTP_BAD_FRAMING;

/** A parse error, reported to the handler (never thrown). `offset` is the stream offset of the failing byte. */
export interface Http1Error extends DecodeErrorInfo {
  code: Http1ErrorCode;
  layer: 'http1';
}

/** Largest head accepted (start line through blank line). */
export const MAX_HEAD_BYTES = 64 * 1024;

/** What the parser reports. */
export interface Http1Handler {
  onRequest(head: HttpRequestHead): void;
  /** A response head (interim or final). Returns the method of the request it answers, which frames the body. */
  onResponse(head: HttpResponseHead): string | undefined;
  /** body bytes passed over (counted, never copied); includes body bytes lost in gaps when framing allowed it */
  onBody(bytes: number): void;
  /** the current message (head and body) is complete */
  onMessageEnd(): void;
  onError(err: Http1Error): void;
  /** the stream's first bytes are not HTTP/1.x: the parser stops */
  onNotHttp(): void;
  /** 101 or a 2xx to CONNECT: the connection stops being HTTP (`tunnelAt` says where the other protocol starts) */
  onTunnel(): void;
  /**
   * Chunked trailer fields of the current message, in order, names as sent (called before onMessageEnd). Optional:
   * a handler without it has its trailers skipped, never buffered.
   */
  onTrailers?(fields: Array<[string, string]>): void;
}

/** trailer section bytes kept for onTrailers; a longer section is skipped (still framed) */
const MAX_TRAILER_BYTES = 64 * 1024;

const S_START = 0;
const S_HEAD = 1;
const S_BODY = 2;
const S_UNTIL_CLOSE = 3;
const S_CHUNK_SIZE = 4;
const S_CHUNK_EXT = 5;
const S_CHUNK_DATA = 6;
const S_CHUNK_DATA_END = 7;
const S_TRAILER = 8;
const S_RESYNC = 9;
const S_DEAD = 10;

/**
 * One direction's HTTP/1.x parser. Feed `push()` in-order bytes, `gap()` for missing bytes, `end()` at the
 * stream's end. After an error or a gap it cannot skip by counting, it resynchronises: it waits for a chunk
 * that begins with a start line (segments begin messages often enough; this is what httplog relies on).
 */
export class Http1Parser {
  /** 1 requests, 2 responses, 0 not known yet (taken from the first start line) */
  role: Http1Role;
  /** the stream was picked up mid-way (no SYN): leading garbage is a resync, not "not HTTP" */
  midStream = false;
  /** messages whose head was parsed */
  messages = 0;
  private state = S_START;
  private headBuf: Buffer | undefined;
  private headLen = 0;
  private eol = 0;
  private headTs = 0;
  private lineOk = false;
  private remaining = 0;
  private chunkDigits = 0;
  private trailerLine = 0;
  /** trailer section text so far (latin1), when the handler takes trailers */
  private trailerText: string | undefined;
  /** stream offset of the current chunk's first byte */
  private offset = 0;
  /** the position in the current chunk where the head being completed ends */
  private headEnd = 0;
  /**
   * After a message that switched protocols (101, 2xx to CONNECT): the stream offset of the first byte after its
   * head, i.e. where the new protocol starts (bytes of the same chunk after it were not parsed). -1 before.
   */
  tunnelAt = -1;

  constructor(private readonly handler: Http1Handler, role: Http1Role = 0) {
    this.role = role;
  }

  /** the parser has stopped for good (not HTTP, tunnel, or ended) */
  get dead(): boolean {
    return this.state === S_DEAD;
  }

  /** bytes of the stream so far (pushed and gaps): with `tunnelAt`, where a chunk's unparsed rest starts */
  get streamOffset(): number {
    return this.offset;
  }

  /** in resync: waiting for a chunk that starts a message */
  get resyncing(): boolean {
    return this.state === S_RESYNC;
  }

  /** Stop parsing (the other direction switched protocols, or the connection is not HTTP). */
  stop(): void {
    this.state = S_DEAD;
  }

  push(buf: Buffer, tsUs: number): void {
    const end = buf.length;
    let pos = 0;
    while (pos < end) {
      switch (this.state) {
        case S_START: {
          // empty lines before a message are ignored (RFC 9112 2.2)
          while (pos < end && (buf[pos] === CR || buf[pos] === LF)) pos++;
          if (pos === end) break;
          this.state = S_HEAD;
          this.headTs = tsUs;
          this.headLen = 0;
          this.eol = 0;
          this.lineOk = false;
          break;
        }
        case S_HEAD:
          pos = this.head(buf, pos, end);
          break;
        case S_BODY: {
          const avail = end - pos;
          const n = avail < this.remaining ? avail : this.remaining;
          this.remaining -= n;
          pos += n;
          this.handler.onBody(n);
          if (this.remaining === 0) this.messageEnd();
          break;
        }
        case S_UNTIL_CLOSE:
          this.handler.onBody(end - pos);
          pos = end;
          break;
        case S_CHUNK_SIZE: {
          const b = buf[pos];
          let d = -1;
          if (b >= 48 && b <= 57) d = b - 48;
          else if (b >= 97 && b <= 102) d = b - 87;
          else if (b >= 65 && b <= 70) d = b - 55;
          if (d >= 0) {
            if (++this.chunkDigits > 12) {
              this.error(WL_ERR_HTTP_BAD_CHUNK, pos, 'chunk size too large');
              pos = end;
            } else {
              this.remaining = this.remaining * 16 + d;
              pos++;
            }
          } else if (this.chunkDigits === 0) {
            this.error(WL_ERR_HTTP_BAD_CHUNK, pos, 'chunk size expected');
            pos = end;
          } else this.state = S_CHUNK_EXT; // extensions, whitespace, CRLF: up to LF
          break;
        }
        case S_CHUNK_EXT: {
          const lf = buf.indexOf(LF, pos);
          if (lf < 0) {
            pos = end;
            break;
          }
          pos = lf + 1;
          if (this.remaining === 0) {
            this.state = S_TRAILER;
            this.trailerLine = 0;
            this.trailerText = this.handler.onTrailers !== undefined ? '' : undefined;
          } else this.state = S_CHUNK_DATA;
          break;
        }
        case S_CHUNK_DATA: {
          const avail = end - pos;
          const n = avail < this.remaining ? avail : this.remaining;
          this.remaining -= n;
          pos += n;
          this.handler.onBody(n);
          if (this.remaining === 0) this.state = S_CHUNK_DATA_END;
          break;
        }
        case S_CHUNK_DATA_END: {
          const b = buf[pos];
          if (b === CR) pos++;
          else if (b === LF) {
            pos++;
            this.chunkStart();
          } else {
            this.error(WL_ERR_HTTP_BAD_CHUNK, pos, 'CRLF expected after chunk data');
            pos = end;
          }
          break;
        }
        case S_TRAILER: {
          // the message ends at the first empty line; the fields are kept only for a handler that takes them
          const from = pos;
          let done = false;
          for (; pos < end; pos++) {
            const b = buf[pos];
            if (b === LF) {
              if (this.trailerLine === 0) {
                pos++;
                done = true;
                break;
              }
              this.trailerLine = 0;
            } else if (b !== CR) this.trailerLine++;
          }
          if (this.trailerText !== undefined) {
            if (this.trailerText.length + (pos - from) > MAX_TRAILER_BYTES) this.trailerText = undefined;
            else this.trailerText += buf.toString('latin1', from, pos);
          }
          if (done) {
            if (this.trailerText !== undefined) {
              const fields = parseTrailerText(this.trailerText);
              this.trailerText = undefined;
              if (fields.length > 0) this.handler.onTrailers!(fields);
            }
            this.messageEnd();
          }
          break;
        }
        case S_RESYNC: {
          const k = looksLikeHttpStart(buf, pos, end);
          if (k !== HTTP_START_NONE && (this.role === 0 || k === this.role)) this.state = S_START;
          else pos = end;
          break;
        }
        default: // S_DEAD
          pos = end;
      }
    }
    this.offset += end;
  }

  /**
   * `bytes` of the stream are missing. Inside a body of known length they are skipped by counting; a head cut by
   * the gap is reported with the fields that were complete; otherwise the parser resynchronises.
   */
  gap(bytes: number, _tsUs: number): void {
    this.offset += bytes;
    switch (this.state) {
      case S_BODY:
        if (bytes < this.remaining) {
          this.remaining -= bytes;
          this.handler.onBody(bytes);
          return;
        }
        this.handler.onBody(this.remaining);
        bytes -= this.remaining;
        this.remaining = 0;
        this.messageEnd();
        if (bytes > 0) this.state = S_RESYNC;
        return;
      case S_CHUNK_DATA:
        if (bytes <= this.remaining) {
          this.remaining -= bytes;
          this.handler.onBody(bytes);
          if (this.remaining === 0) this.state = S_CHUNK_DATA_END;
          return;
        }
        this.state = S_RESYNC;
        return;
      case S_UNTIL_CLOSE:
        this.handler.onBody(bytes);
        return;
      case S_HEAD:
        if (this.lineOk && this.headBuf !== undefined && this.headLen > 0) this.emitPartialHead();
        this.state = S_RESYNC;
        return;
      case S_DEAD:
        return;
      default:
        this.state = S_RESYNC;
    }
  }

  /** End of stream: a response read until close is complete. */
  end(): void {
    if (this.state === S_UNTIL_CLOSE) this.messageEnd();
    this.state = S_DEAD;
  }

  private chunkStart(): void {
    this.state = S_CHUNK_SIZE;
    this.remaining = 0;
    this.chunkDigits = 0;
  }

  private messageEnd(): void {
    this.state = S_START;
    this.handler.onMessageEnd();
  }

  private error(code: Http1ErrorCode, pos: number, message: string, required?: number, actual?: number): void {
    const err: Http1Error = { code, layer: 'http1', offset: this.offset + pos, message };
    if (required !== undefined) err.required = required;
    if (actual !== undefined) err.actual = actual;
    this.state = S_RESYNC;
    this.handler.onError(err);
  }

  /** not a start line where one must be */
  private badStart(pos: number): void {
    if (this.messages === 0) {
      if (this.midStream) this.state = S_RESYNC; // picked up mid-message: wait for the next message start
      else {
        this.state = S_DEAD;
        this.handler.onNotHttp();
      }
      return;
    }
    this.error(WL_ERR_HTTP_BAD_START_LINE, pos, 'not an HTTP/1.x start line');
  }

  /** accumulate/parse a head; returns the new position */
  private head(buf: Buffer, pos: number, end: number): number {
    const r = scanHeadEnd(buf, pos, end, this.eol);
    this.headEnd = r;
    if (this.headLen === 0) {
      if (r >= 0) {
        // fast path: the whole head is in this chunk, parse it in place
        if (!this.completeHead(buf, pos, r)) {
          this.badStart(pos);
          return end;
        }
        return r;
      }
      if (!this.lineOk) {
        const st = startLineState(buf, pos, end, this.role);
        if (st === SL_NO) {
          this.badStart(pos);
          return end;
        }
        if (st & SL_COMPLETE) this.lineOk = true;
      }
    }
    this.eol = r >= 0 ? 0 : -r - 1;
    const stop = r >= 0 ? r : end;
    const n = stop - pos;
    if (this.headLen + n > MAX_HEAD_BYTES) {
      const actual = this.headLen + n;
      this.headLen = 0;
      this.error(WL_ERR_HTTP_HEAD_TOO_LARGE, pos, 'message head too large', MAX_HEAD_BYTES, actual);
      return end;
    }
    this.append(buf, pos, stop);
    if (!this.lineOk) {
      // re-check the start line while it is short or when its end may have arrived (keeps 1-byte feeds linear)
      if (this.headLen <= 256 || buf.indexOf(LF, pos) >= 0) {
        const st = startLineState(this.headBuf!, 0, this.headLen, this.role);
        if (st === SL_NO) {
          this.headLen = 0;
          this.badStart(pos);
          return end;
        }
        if (st & SL_COMPLETE) this.lineOk = true;
      }
    }
    if (r >= 0) {
      const len = this.headLen;
      this.headLen = 0;
      if (!this.completeHead(this.headBuf!, 0, len)) {
        this.badStart(pos);
        return end;
      }
      return r;
    }
    return end;
  }

  private append(buf: Buffer, s: number, e: number): void {
    const n = e - s;
    let hb = this.headBuf;
    if (hb === undefined || hb.length < this.headLen + n) {
      let size = hb === undefined ? 1024 : hb.length * 2;
      while (size < this.headLen + n) size *= 2;
      const nb = Buffer.allocUnsafe(size);
      if (hb !== undefined && this.headLen > 0) hb.copy(nb, 0, 0, this.headLen);
      this.headBuf = hb = nb;
    }
    buf.copy(hb, this.headLen, s, e);
    this.headLen += n;
  }

  /** parse a complete head at b[s..e) and set up its body; false when the start line is invalid */
  private completeHead(b: Buffer, s: number, e: number): boolean {
    let kind = this.role;
    if (kind === 0) kind = e - s >= 5 && b[s] === 0x48 && b[s + 1] === 0x54 && b[s + 2] === 0x54 && b[s + 3] === 0x50 && b[s + 4] === 0x2f ? 2 : 1;
    if (kind === 1) {
      const h = parseRequestHead(b, s, e, this.headTs, true);
      if (h === undefined) return false;
      const mode = requestBodyMode(h); // before the handler runs: reads the framing scratch
      this.role = 1;
      this.messages++;
      this.handler.onRequest(h);
      if (this.state !== S_HEAD) return true; // handler stopped us
      if (mode === -1) {
        this.error(WL_ERR_HTTP_BAD_FRAMING, 0, 'unusable request body framing (Transfer-Encoding / Content-Length)');
        return true;
      }
      this.startBody(mode, h.contentLength ?? 0);
    } else {
      const h = parseResponseHead(b, s, e, this.headTs, true);
      if (h === undefined) return false;
      const teOther = framing.teOther, clInvalid = framing.clInvalid;
      this.role = 2;
      this.messages++;
      const method = this.handler.onResponse(h);
      if (this.state !== S_HEAD) return true;
      framing.teOther = teOther;
      framing.clInvalid = clInvalid;
      const mode = responseBodyMode(h, method);
      if (mode === BODY_TUNNEL) {
        this.state = S_DEAD;
        this.tunnelAt = this.offset + this.headEnd;
        this.handler.onMessageEnd();
        this.handler.onTunnel();
        return true;
      }
      this.startBody(mode, h.contentLength ?? 0);
    }
    return true;
  }

  private startBody(mode: BodyMode, length: number): void {
    switch (mode) {
      case BODY_LENGTH:
        this.state = S_BODY;
        this.remaining = length;
        break;
      case BODY_CHUNKED:
        this.chunkStart();
        break;
      case BODY_UNTIL_CLOSE:
        this.state = S_UNTIL_CLOSE;
        break;
      default:
        this.messageEnd();
    }
  }

  /** a gap cut the head: report the complete fields, then resync (body framing is unknown) */
  private emitPartialHead(): void {
    const b = this.headBuf!;
    const len = this.headLen;
    this.headLen = 0;
    let kind = this.role;
    if (kind === 0) kind = b[0] === 0x48 && b[1] === 0x54 ? 2 : 1;
    if (kind === 1) {
      const h = parseRequestHead(b, 0, len, this.headTs, false);
      if (h === undefined) return;
      this.role = 1;
      this.messages++;
      this.handler.onRequest(h);
    } else {
      const h = parseResponseHead(b, 0, len, this.headTs, false);
      if (h === undefined) return;
      this.role = 2;
      this.messages++;
      this.handler.onResponse(h);
    }
    if (this.state === S_HEAD) this.handler.onMessageEnd();
  }
}

/** `name: value` lines of a trailer section (obs-fold and lines without a colon are dropped: they frame nothing). */
function parseTrailerText(t: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of t.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon);
    if (name.charCodeAt(0) === 32 || name.charCodeAt(0) === 9) continue;
    out.push([name, line.slice(colon + 1).trim()]);
  }
  return out;
}

