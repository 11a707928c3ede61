/**
 * One direction's HTTP/1.x stream, incrementally.
 *
 * `Http1Parser` is fed one direction's reassembled bytes in any split (down to 1-byte chunks) and reports heads,
 * body byte counts (bodies are skipped by counting, never copied) and message ends to an `Http1Handler`. A head
 * that arrives whole in one chunk is parsed in place; only a head split across chunks is copied, into one
 * reusable buffer per direction.
 *
 * One bad message never ends the stream (docs/http1.md): the parser gives up on it, says why (an error code and
 * the anomaly that names it), counts the bytes it passes over, and resynchronises at the next line that is a start
 * line of its direction's kind. The next message it parses carries `junk-before-message`.
 */
import { HttpAnomaly, type DecodeErrorInfo, type HttpRequestHead, type HttpResponseHead } from '../../records.js';
import { CR, HT, LF, SP, isHttpSlash } from './syntax.js';
import { SL_COMPLETE, SL_NO, SL_SIMPLE, startLineState, type Http1Role } from './sniff.js';
import { parseRequestHead, parseResponseHead, scanHeadEnd, simpleResponseHead } from './head.js';
import {
  BODY_CHUNKED, BODY_LENGTH, BODY_NONE, BODY_TUNNEL, BODY_UNFRAMEABLE, BODY_UNTIL_CLOSE, requestBodyMode, responseBodyMode,
  type BodyMode,
} from './framing.js';

const A = HttpAnomaly;

/** Stable error codes: one per reason the parser gives up on a message or on its framing. */
export const WL_ERR_HTTP_BAD_START_LINE = 'WL_ERR_HTTP_BAD_START_LINE';
export const WL_ERR_HTTP_HEAD_TOO_LARGE = 'WL_ERR_HTTP_HEAD_TOO_LARGE';
export const WL_ERR_HTTP_BAD_CHUNK = 'WL_ERR_HTTP_BAD_CHUNK';
export const WL_ERR_HTTP_CHUNK_OVERFLOW = 'WL_ERR_HTTP_CHUNK_OVERFLOW';
export const WL_ERR_HTTP_BAD_FRAMING = 'WL_ERR_HTTP_BAD_FRAMING';
export type Http1ErrorCode =
  | typeof WL_ERR_HTTP_BAD_START_LINE
  | typeof WL_ERR_HTTP_HEAD_TOO_LARGE
  | typeof WL_ERR_HTTP_BAD_CHUNK
  | typeof WL_ERR_HTTP_CHUNK_OVERFLOW
  | typeof WL_ERR_HTTP_BAD_FRAMING;

/** A give-up, reported to the handler (never thrown). `offset` is the stream offset of the failing byte. */
export interface Http1Error extends DecodeErrorInfo {
  code: Http1ErrorCode;
  layer: 'http1';
  /** the HttpAnomaly bit(s) naming what was wrong */
  anomaly: number;
  /**
   * true: a whole message is lost (its head could not be parsed); false: the current message's head was reported
   * (and carries the anomaly), only its body's framing was lost
   */
  messageSkipped: boolean;
}

/** Largest head accepted (start line through blank line): a memory bound above what servers take (h2o takes a 70 KB header line). */
export const MAX_HEAD_BYTES = 256 * 1024;
/** Bytes skipped before a stream's first message after which the direction is given up as not HTTP. */
export const NOT_HTTP_SKIP_LIMIT = 16 * 1024;
/** Longest line looked at as a possible start line while resynchronising. */
export const MAX_START_LINE = 16 * 1024;
/** chunk sizes above this lose the message's framing (chunk-overflow): the value must stay an exact number */
const MAX_CHUNK_SIZE = Number.MAX_SAFE_INTEGER;

/** What the parser reports. */
export interface Http1Handler {
  onRequest(head: HttpRequestHead): void;
  /** A response head (interim or final). Returns the method of the request it answers, which frames the body. */
  onResponse(head: HttpResponseHead): string | undefined;
  /** body bytes passed over (counted, never copied); includes body bytes lost in gaps when framing allowed it */
  onBody(bytes: number): void;
  /** the current message (head and body) is complete */
  onMessageEnd(): void;
  /** the parser gave up on a message or its framing; it resynchronises (see Http1Error.messageSkipped) */
  onError(err: Http1Error): void;
  /** bytes passed over without being part of a message (junk, skipped messages, the start of a mid-way stream) */
  onSkipped?(bytes: number): void;
  /** NOT_HTTP_SKIP_LIMIT bytes were skipped before any message: the parser has stopped */
  onNotHttp(): void;
  /** 101 or a 2xx to CONNECT: the connection stops being HTTP (`tunnelAt` says where the other protocol starts) */
  onTunnel(): void;
  /**
   * Chunked trailer fields of the current message, in order, names as sent (called before onMessageEnd). Optional:
   * a handler without it has its trailers skipped, never buffered.
   */
  onTrailers?(fields: Array<[string, string]>): void;
  /**
   * Asked of a response stream before each message: does the next response answer an HTTP/0.9 request? Then it has
   * no status line and its bytes until close are its body. Optional: without it, HTTP/0.9 answers are not followed.
   */
  expectsSimpleResponse?(): boolean;
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
/** skipping to the next line that is a start line */
const S_RESYNC = 9;
const S_DEAD = 10;
/** after an HTTP/0.9 request: nothing more is a message (the server closes after its answer) */
const S_AFTER_SIMPLE = 11;
/** a head longer than MAX_HEAD_BYTES was logged from its beginning: its rest is skipped to the blank line */
const S_HEAD_REST = 12;

// Where resynchronisation stands (resyncLine): skipping to the next LF, at a line start, or > 0: that many bytes
// of a possible start line carried in headBuf from earlier chunks.
const TO_NEXT_LF = -1;
const AT_LINE_START = 0;

/**
 * One direction's HTTP/1.x parser. Feed `push()` in-order bytes, `gap()` for missing bytes, `end()` at the
 * stream's end.
 */
export class Http1Parser {
  /** 1 requests, 2 responses, 0 not known yet (taken from the first start line) */
  role: Http1Role;
  /** the stream was picked up mid-way (no SYN): leading bytes are skipped quietly, with no budget */
  midStream = false;
  /** messages whose head was parsed */
  messages = 0;
  /** bytes passed over so far (see Http1Handler.onSkipped) */
  skippedBytes = 0;
  private state = S_START;
  private headBuf: Buffer | undefined;
  private headLen = 0;
  private eol = 0;
  private headTs = 0;
  /** stream offset of the current head's first byte */
  private headStart = 0;
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
  /** the head of the message being read (its body's framing problems are added to its anomalies) */
  private current: HttpRequestHead | HttpResponseHead | undefined;
  /** anomalies for the next head: bytes skipped before it */
  private pendingBits = 0;
  /** resynchronising after a give-up (the next message is flagged), not after a gap or a mid-way start */
  private resyncFlags = 0;
  private resyncLine = TO_NEXT_LF;
  /** time of the chunk a carried possible start line began in */
  private candidateTs = 0;
  /** bytes skipped before the first start line */
  private junkBytes = 0;
  /** the body framing of a head logged from its first MAX_HEAD_BYTES, applied once its rest has been skipped */
  private restMode: BodyMode = BODY_NONE;
  private restLength = 0;
  /** a complete start line was seen: the stream is HTTP, however badly the rest goes (no not-HTTP budget) */
  private sawStartLine = false;
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

  /** in resync: looking for the next start line */
  get resyncing(): boolean {
    return this.state === S_RESYNC;
  }

  /** a complete start line was seen on this stream (it speaks HTTP, whatever else went wrong) */
  get sawHttp(): boolean {
    return this.sawStartLine;
  }

  /** a message head has begun and is not complete yet (its start line seen, or still possible) */
  get inHead(): boolean {
    return this.state === S_HEAD;
  }

  /** Stop parsing (the other direction switched protocols, or the connection is not HTTP). */
  stop(): void {
    this.state = S_DEAD;
  }

  push(buf: Buffer, tsUs: number): void {
    this.feed(buf, 0, tsUs);
    this.offset += buf.length;
  }

  /** run the state machine over buf[pos..) (this.offset is the stream offset of buf[0]) */
  private feed(buf: Buffer, pos: number, tsUs: number): void {
    const end = buf.length;
    while (pos < end) {
      switch (this.state) {
        case S_START: {
          if (this.role === 2 && this.handler.expectsSimpleResponse?.() === true && this.simpleResponse(buf, pos, end, tsUs)) break;
          // empty lines before a message are ignored (RFC 9112 2.2), counted and flagged
          const from = pos;
          while (pos < end && (buf[pos] === CR || buf[pos] === LF)) pos++;
          if (pos > from) {
            this.pendingBits |= A.CRLF_BEFORE_MESSAGE;
            this.skip(pos - from);
          }
          if (pos === end || this.state !== S_START) break;
          this.state = S_HEAD;
          this.headTs = tsUs;
          this.headStart = this.offset + pos;
          this.headLen = 0;
          this.eol = 0;
          this.lineOk = false;
          break;
        }
        case S_HEAD:
          pos = this.head(buf, pos, end, tsUs);
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
          const b = buf[pos]!;
          let d = -1;
          if (b >= 48 && b <= 57) d = b - 48;
          else if (b >= 97 && b <= 102) d = b - 87;
          else if (b >= 65 && b <= 70) d = b - 55;
          if (d >= 0) {
            // leading zeros are fine: the value is bounded, not the number of digits
            if (this.remaining > (MAX_CHUNK_SIZE - d) / 16) {
              this.framingLost(WL_ERR_HTTP_CHUNK_OVERFLOW, A.CHUNK_OVERFLOW, pos, 'chunk size too large', false);
            } else {
              this.chunkDigits++;
              this.remaining = this.remaining * 16 + d;
              pos++;
            }
          } else if (this.chunkDigits === 0) {
            // at the start of the line: it may itself be the next message (a body shorter than its framing said)
            this.framingLost(WL_ERR_HTTP_BAD_CHUNK, A.BAD_CHUNK, pos, 'chunk size expected', true);
          } else if (b === 0x3b || b === SP || b === HT || b === CR || b === LF) {
            this.state = S_CHUNK_EXT; // extensions (RFC 9112 7.1.1), whitespace, CRLF: up to LF
          } else this.framingLost(WL_ERR_HTTP_BAD_CHUNK, A.BAD_CHUNK, pos, 'chunk size followed by something else than an extension or the line end', false);
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
          } else this.framingLost(WL_ERR_HTTP_BAD_CHUNK, A.BAD_CHUNK, pos, 'CRLF expected after chunk data', true);
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
        case S_RESYNC:
          pos = this.resync(buf, pos, end, tsUs);
          break;
        case S_AFTER_SIMPLE:
          this.skip(end - pos);
          pos = end;
          break;
        case S_HEAD_REST: {
          const r = scanHeadEnd(buf, pos, end, this.eol);
          if (r < 0) {
            this.eol = -r - 1;
            this.skip(end - pos);
            pos = end;
            break;
          }
          this.skip(r - pos);
          this.eol = 0;
          this.headEnd = r;
          pos = r;
          this.bodyAfterHead(this.restMode, this.restLength);
          break;
        }
        default: // S_DEAD
          pos = end;
      }
    }
  }

  /**
   * `bytes` of the stream are missing. Inside a body of known length they are skipped by counting; a head cut by
   * the gap is reported with the fields that were complete; otherwise the parser resynchronises (quietly: the gap
   * is the capture's loss, not the peer's doing, and is counted as such by the reassembler).
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
        if (bytes > 0) this.resyncAfterGap();
        return;
      case S_CHUNK_DATA:
        if (bytes <= this.remaining) {
          this.remaining -= bytes;
          this.handler.onBody(bytes);
          if (this.remaining === 0) this.state = S_CHUNK_DATA_END;
          return;
        }
        this.resyncAfterGap();
        return;
      case S_UNTIL_CLOSE:
        this.handler.onBody(bytes);
        return;
      case S_HEAD:
        if (this.lineOk && this.headBuf !== undefined && this.headLen > 0) this.emitPartialHead();
        this.resyncAfterGap();
        return;
      case S_DEAD:
      case S_AFTER_SIMPLE:
        return;
      case S_RESYNC:
        if (this.resyncLine > 0) this.skip(this.headLen);
        this.headLen = 0;
        this.resyncLine = AT_LINE_START;
        return;
      default:
        this.resyncAfterGap();
    }
  }

  /**
   * End of stream: a response read until close is complete, unless the stream was `aborted` (a reset: where its body
   * ended is not known, so the message is left open for the handler to call incomplete); a possible start line still
   * carried was skipped.
   */
  end(aborted = false): void {
    if (this.state === S_UNTIL_CLOSE) {
      if (!aborted) this.messageEnd();
    } else if (this.state === S_HEAD && this.lineOk && this.headLen > 0) {
      this.emitPartialHead(); // a head cut by the stream's end: its complete lines are what was sent
    } else if (this.state === S_RESYNC && this.resyncLine > 0) this.skip(this.headLen);
    this.headLen = 0;
    this.state = S_DEAD;
  }

  private chunkStart(): void {
    this.state = S_CHUNK_SIZE;
    this.remaining = 0;
    this.chunkDigits = 0;
  }

  private messageEnd(): void {
    this.state = S_START;
    this.current = undefined;
    this.handler.onMessageEnd();
  }

  /** Count bytes passed over; before any message, past NOT_HTTP_SKIP_LIMIT, the stream is given up as not HTTP. */
  private skip(n: number): void {
    if (n <= 0) return;
    this.skippedBytes += n;
    this.handler.onSkipped?.(n);
    if (!this.sawStartLine && !this.midStream && this.state !== S_DEAD) {
      this.junkBytes += n;
      if (this.junkBytes > NOT_HTTP_SKIP_LIMIT) {
        this.state = S_DEAD;
        this.handler.onNotHttp();
      }
    }
  }

  private resyncAfterGap(): void {
    this.state = S_RESYNC;
    this.resyncFlags = 0;
    this.resyncLine = AT_LINE_START; // the bytes after a gap often start a segment, and segments often start messages
    this.headLen = 0;
    this.current = undefined;
  }

  private report(code: Http1ErrorCode, anomaly: number, pos: number, message: string, messageSkipped: boolean, required?: number, actual?: number): void {
    const err: Http1Error = { code, layer: 'http1', offset: this.offset + pos, message, anomaly, messageSkipped };
    if (required !== undefined) err.required = required;
    if (actual !== undefined) err.actual = actual;
    this.handler.onError(err);
  }

  /** The current message's body cannot be followed: flag its head, report, resynchronise at pos. */
  private framingLost(code: Http1ErrorCode, anomaly: number, pos: number, message: string, atLineStart: boolean): void {
    const h = this.current;
    if (h !== undefined) h.anomalies = (h.anomalies ?? 0) | anomaly;
    this.current = undefined;
    this.state = S_RESYNC;
    this.resyncFlags = A.JUNK_BEFORE_MESSAGE;
    this.resyncLine = atLineStart ? AT_LINE_START : TO_NEXT_LF;
    this.headLen = 0;
    this.report(code, anomaly, pos, message, false);
  }

  /**
   * Not a start line where one must be (the message at headStart is lost). Returns where to go on in buf: the
   * lines after the bad one are looked at for the next start line, those already copied into headBuf included.
   */
  private badStart(buf: Buffer, pos: number, tsUs: number, anomaly: number, code: Http1ErrorCode, message: string): number {
    const carried = this.headLen > 0 ? Buffer.from(this.headBuf!.subarray(0, this.headLen)) : undefined;
    this.headLen = 0;
    this.state = S_RESYNC;
    this.resyncLine = TO_NEXT_LF;
    if (this.messages === 0 && this.midStream) this.resyncFlags = 0; // picked up mid-message: quietly to the next start
    else {
      this.resyncFlags = A.JUNK_BEFORE_MESSAGE;
      this.report(code, anomaly, this.headStart - this.offset, message, true);
    }
    if (carried === undefined) return pos;
    // the carried bytes run from headStart up to pos in the current chunk: look at them as if they came again
    const chunkOffset = this.offset;
    this.offset = this.headStart;
    this.feed(carried, 0, tsUs);
    this.offset = chunkOffset;
    return pos;
  }

  /**
   * Resynchronising: skip to the next line that is a complete start line of this direction's kind (a request
   * line with a version, a status line); a line cut by the chunk's end is carried in headBuf until it is whole.
   */
  private resync(buf: Buffer, pos: number, end: number, tsUs: number): number {
    for (;;) {
      if (this.state !== S_RESYNC) return pos;
      if (this.resyncLine === TO_NEXT_LF) {
        const lf = buf.indexOf(LF, pos);
        if (lf < 0 || lf >= end) {
          this.skip(end - pos);
          return end;
        }
        this.skip(lf + 1 - pos);
        pos = lf + 1;
        this.resyncLine = AT_LINE_START;
        continue;
      }
      if (pos >= end) return end;
      if (this.resyncLine === AT_LINE_START) {
        const lf = buf.indexOf(LF, pos);
        const lineEnd = lf < 0 || lf >= end ? end : lf + 1;
        const st = startLineState(buf, pos, lineEnd, this.role, false);
        if (st === SL_NO) {
          this.resyncLine = TO_NEXT_LF;
          continue;
        }
        if ((st & SL_COMPLETE) !== 0) {
          this.resume();
          return pos;
        }
        if (end - pos > MAX_START_LINE) {
          this.resyncLine = TO_NEXT_LF;
          continue;
        }
        this.headLen = 0;
        this.append(buf, pos, end);
        this.resyncLine = end - pos;
        this.candidateTs = tsUs;
        this.headStart = this.offset + pos;
        return end;
      }
      // a possible start line carried from earlier chunks goes on here
      const lf = buf.indexOf(LF, pos);
      const stop = lf < 0 || lf >= end ? end : lf + 1;
      this.append(buf, pos, stop);
      this.resyncLine = this.headLen;
      const st = startLineState(this.headBuf!, 0, this.headLen, this.role, false);
      if (st === SL_NO || this.headLen > MAX_START_LINE) {
        this.skip(this.headLen);
        this.headLen = 0;
        this.resyncLine = lf >= 0 && lf < end ? AT_LINE_START : TO_NEXT_LF;
        pos = stop;
        continue;
      }
      if ((st & SL_COMPLETE) !== 0) {
        // the head goes on from the carried line, as if it had been copied there by head()
        this.resume();
        this.state = S_HEAD;
        this.headTs = this.candidateTs;
        this.lineOk = true;
        this.eol = 1; // just after the start line's LF
        return stop;
      }
      return end;
    }
  }

  /** a start line was found: the next message begins (flagged when bytes were skipped for a give-up) */
  private resume(): void {
    this.sawStartLine = true;
    this.pendingBits |= this.resyncFlags;
    this.resyncFlags = 0;
    this.resyncLine = TO_NEXT_LF;
    this.state = S_START;
  }

  /**
   * The answer to an HTTP/0.9 request starts at buf[pos]: unless it begins with a whole status line (a server that
   * does not speak 0.9 answers 400 with a head), it is a body until close. Returns false to parse it as a head.
   */
  private simpleResponse(buf: Buffer, pos: number, end: number, tsUs: number): boolean {
    if (startLineState(buf, pos, end, 2, false) !== SL_NO) return false;
    const h = simpleResponseHead(tsUs);
    this.headStart = this.offset + pos;
    this.adopt(h, 2);
    this.handler.onResponse(h);
    if (this.state === S_START) this.state = S_UNTIL_CLOSE;
    return true;
  }

  /** accumulate/parse a head; returns the new position */
  private head(buf: Buffer, pos: number, end: number, tsUs: number): number {
    const r = scanHeadEnd(buf, pos, end, this.eol);
    this.headEnd = r;
    if (this.headLen === 0) {
      if (r >= 0) {
        // fast path: the whole head is in this chunk, parse it in place
        const consumed = this.completeHead(buf, pos, r);
        if (consumed < 0) return this.badStart(buf, pos, tsUs, A.BAD_START_LINE, WL_ERR_HTTP_BAD_START_LINE, 'not an HTTP/1.x start line');
        return consumed;
      }
      if (!this.lineOk) {
        const st = startLineState(buf, pos, end, this.role);
        if (st === SL_NO) return this.badStart(buf, pos, tsUs, A.BAD_START_LINE, WL_ERR_HTTP_BAD_START_LINE, 'not an HTTP/1.x start line');
        if ((st & SL_SIMPLE) !== 0) {
          // an HTTP/0.9 request is its request line alone
          const lf = buf.indexOf(LF, pos);
          const consumed = this.completeHead(buf, pos, lf + 1);
          return consumed < 0 ? this.badStart(buf, pos, tsUs, A.BAD_START_LINE, WL_ERR_HTTP_BAD_START_LINE, 'not an HTTP/1.x start line') : consumed;
        }
        if ((st & SL_COMPLETE) !== 0) this.lineOk = this.sawStartLine = true;
      }
    }
    const eol0 = this.eol;
    this.eol = r >= 0 ? 0 : -r - 1;
    const stop = r >= 0 ? r : end;
    const n = stop - pos;
    if (this.headLen + n > MAX_HEAD_BYTES) {
      const actual = this.headLen + n;
      if (this.lineOk) {
        // logged from its first MAX_HEAD_BYTES (complete lines), as servers that take such heads understand it;
        // the rest of the head is skipped to its blank line, then the body is framed by what was kept
        const take = MAX_HEAD_BYTES - this.headLen;
        const st = take > 0 ? scanHeadEnd(buf, pos, pos + take, eol0) : -(1 + eol0);
        this.append(buf, pos, pos + take);
        this.eol = st >= 0 ? 0 : -st - 1;
        const len = this.headLen;
        this.headLen = 0;
        this.truncatedHead(len);
        this.report(WL_ERR_HTTP_HEAD_TOO_LARGE, A.HEAD_TOO_LARGE, pos + take, `message head over ${MAX_HEAD_BYTES} bytes: logged from its beginning, the rest skipped`, false, MAX_HEAD_BYTES, actual);
        return pos + take;
      }
      // not even the start line fits: the message is lost (what came of it looked like one: this is HTTP)
      this.sawStartLine = true;
      this.headLen = 0;
      this.state = S_RESYNC;
      this.resyncLine = TO_NEXT_LF;
      this.resyncFlags = A.JUNK_BEFORE_MESSAGE;
      const err: Http1Error = {
        code: WL_ERR_HTTP_HEAD_TOO_LARGE, layer: 'http1', offset: this.offset + pos, message: 'message head too large',
        required: MAX_HEAD_BYTES, actual, anomaly: A.HEAD_TOO_LARGE, messageSkipped: true,
      };
      this.handler.onError(err);
      this.skip(actual - n);
      return pos;
    }
    this.append(buf, pos, stop);
    if (!this.lineOk) {
      // re-check the start line while it is short or when its end may have arrived (keeps 1-byte feeds linear)
      if (this.headLen <= 256 || buf.indexOf(LF, pos) >= 0) {
        const st = startLineState(this.headBuf!, 0, this.headLen, this.role);
        if (st === SL_NO) return this.badStart(buf, stop, tsUs, A.BAD_START_LINE, WL_ERR_HTTP_BAD_START_LINE, 'not an HTTP/1.x start line');
        if ((st & SL_SIMPLE) !== 0) {
          const hb = this.headBuf!;
          const lf = hb.indexOf(LF);
          this.headLen = 0;
          this.completeHead(hb, 0, lf + 1);
          return stop;
        }
        if ((st & SL_COMPLETE) !== 0) this.lineOk = this.sawStartLine = true;
      }
    }
    if (r >= 0) {
      const len = this.headLen;
      this.headLen = 0;
      if (this.completeHead(this.headBuf!, 0, len) < 0) {
        // (the start line was checked; a head parser that still says no keeps the bytes skipped, not the stream)
        this.headLen = len;
        return this.badStart(buf, stop, tsUs, A.BAD_START_LINE, WL_ERR_HTTP_BAD_START_LINE, 'not an HTTP/1.x start line');
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

  /**
   * Parse a complete head at b[s..e) and set up its body. Returns the index in b after the head (before e for an
   * HTTP/0.9 request, which is its first line alone), or -1 when the start line is not one.
   */
  private completeHead(b: Buffer, s: number, e: number): number {
    let kind = this.role;
    if (kind === 0) kind = isHttpSlash(b, s, e) ? 2 : 1;
    if (kind === 1) {
      const h = parseRequestHead(b, s, e, this.headTs, true);
      if (h === undefined) return -1;
      this.adopt(h, 1);
      const mode = requestBodyMode(h);
      this.handler.onRequest(h);
      const consumed = s + h.headLen;
      if (this.state !== S_HEAD) return consumed; // handler stopped us
      if (h.version === 'HTTP/0.9') {
        this.state = S_AFTER_SIMPLE;
        this.current = undefined;
        this.handler.onMessageEnd();
        return consumed;
      }
      this.bodyAfterHead(mode, h.contentLength ?? 0);
      return consumed;
    }
    const h = parseResponseHead(b, s, e, this.headTs, true);
    if (h === undefined) return -1;
    this.adopt(h, 2);
    const method = this.handler.onResponse(h);
    if (this.state !== S_HEAD) return e;
    this.bodyAfterHead(responseBodyMode(h, method), h.contentLength ?? 0);
    return e;
  }

  /**
   * A head longer than MAX_HEAD_BYTES: report it from the complete lines of its first MAX_HEAD_BYTES (flagged),
   * then skip its rest (S_HEAD_REST); the body is framed by what was kept.
   */
  private truncatedHead(len: number): void {
    this.state = S_HEAD_REST;
    const mode = this.reportCutHead(len, A.HEAD_TOO_LARGE);
    this.restMode = mode ?? BODY_NONE;
    this.restLength = mode === undefined ? 0 : this.current?.contentLength ?? 0;
  }

  /**
   * Report the head in headBuf[0..len), cut before its blank line (by the size bound, a gap or the stream's end):
   * the complete lines are what was sent. Returns its body's framing, or undefined when it is not a head after all.
   */
  private reportCutHead(len: number, anomalies: number): BodyMode | undefined {
    const b = this.headBuf!;
    const kind = this.role !== 0 ? this.role : isHttpSlash(b, 0, len) ? 2 : 1;
    if (kind === 1) {
      const h = parseRequestHead(b, 0, len, this.headTs, false);
      if (h === undefined) return undefined;
      this.adopt(h, 1, anomalies);
      this.handler.onRequest(h);
      return requestBodyMode(h);
    }
    const h = parseResponseHead(b, 0, len, this.headTs, false);
    if (h === undefined) return undefined;
    this.adopt(h, 2, anomalies);
    return responseBodyMode(h, this.handler.onResponse(h));
  }

  /**
   * A head the parser is about to report becomes this stream's current message: it starts at headStart, carries the
   * anomalies noted before it (bytes skipped) and `anomalies`, and shows the stream speaks HTTP.
   */
  private adopt(h: HttpRequestHead | HttpResponseHead, role: 1 | 2, anomalies = 0): void {
    h.streamOffset = this.headStart;
    h.anomalies = (h.anomalies ?? 0) | this.pendingBits | anomalies;
    this.pendingBits = 0;
    this.sawStartLine = true;
    this.role = role;
    this.messages++;
    this.current = h;
  }

  /** The head is done (ending at headEnd in the current chunk): follow its body, or stop where HTTP stops. */
  private bodyAfterHead(mode: BodyMode, length: number): void {
    if (mode === BODY_UNFRAMEABLE) {
      // RFC 9112 6.3 rules 4 and 5: the server answers 400 and closes; what follows is looked at line by line
      const bits = (this.current?.anomalies ?? 0) & (A.TE_NOT_CHUNKED_LAST | A.CL_INVALID | A.CL_MISMATCH);
      this.report(WL_ERR_HTTP_BAD_FRAMING, bits, this.headEnd, 'request body length cannot be determined (Transfer-Encoding / Content-Length)', false);
      this.current = undefined;
      this.state = S_RESYNC;
      this.resyncFlags = A.JUNK_BEFORE_MESSAGE;
      this.resyncLine = AT_LINE_START;
      return;
    }
    if (mode === BODY_TUNNEL) {
      this.state = S_DEAD;
      this.tunnelAt = this.offset + this.headEnd;
      this.handler.onMessageEnd();
      this.handler.onTunnel();
      return;
    }
    this.startBody(mode, length);
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

  /** a gap or the stream's end cut the head: report the complete fields (body framing is unknown) */
  private emitPartialHead(): void {
    const len = this.headLen;
    this.headLen = 0;
    if (this.reportCutHead(len, 0) !== undefined && this.state === S_HEAD) this.handler.onMessageEnd();
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

