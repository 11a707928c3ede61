/**
 * HTTP/2 (RFC 9113) framing, incrementally, for one direction of a connection.
 *
 * `Http2Parser` is fed one direction's reassembled bytes in any split (down to single bytes) and reports header
 * blocks (decoded with that direction's `HpackDecoder`), DATA byte counts (counted, never copied), RST_STREAM,
 * GOAWAY, SETTINGS and stream ends to an `Http2Handler`. A frame whose payload arrives whole in one chunk is
 * handled in place; only a frame split across chunks is copied, into one reusable buffer, and a header block
 * spread over HEADERS + CONTINUATION frames is gathered into another.
 *
 * SETTINGS_HEADER_TABLE_SIZE sent by one endpoint bounds the decoder of the *other* direction (it tells the peer's
 * encoder how big a table this endpoint can decode). `pairHttp2Parsers(c2s, s2c)` wires that.
 *
 * Nothing is thrown: problems go to `onError` as `Http2Error` (code `WL_ERR_H2_*`, or an HPACK code with layer
 * 'hpack'), with `offset` = stream offset of the frame (bytes since the parser started).
 */
import type { DecodeErrorInfo, HeaderList } from '../records.js';
import { HpackDecoder, type HpackBlockInfo, type HpackErrorCode, type HpackField } from './hpack.js';

/** "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n": what a client sends first (RFC 9113 3.4) */
export const HTTP2_PREFACE: Buffer = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER_LEN = 9;

export const FRAME_DATA = 0x0;
export const FRAME_HEADERS = 0x1;
export const FRAME_PRIORITY = 0x2;
export const FRAME_RST_STREAM = 0x3;
export const FRAME_SETTINGS = 0x4;
export const FRAME_PUSH_PROMISE = 0x5;
export const FRAME_PING = 0x6;
export const FRAME_GOAWAY = 0x7;
export const FRAME_WINDOW_UPDATE = 0x8;
export const FRAME_CONTINUATION = 0x9;

export const FLAG_END_STREAM = 0x1;
export const FLAG_ACK = 0x1;
export const FLAG_END_HEADERS = 0x4;
export const FLAG_PADDED = 0x8;
export const FLAG_PRIORITY = 0x20;

export const SETTINGS_HEADER_TABLE_SIZE = 0x1;
export const SETTINGS_ENABLE_PUSH = 0x2;
export const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
export const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
export const SETTINGS_MAX_FRAME_SIZE = 0x5;
export const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6;

/** The client direction does not start with the preface: not HTTP/2 (the parser stops). */
export const WL_ERR_H2_PREFACE = 'WL_ERR_H2_PREFACE';
/** A frame's length does not fit its type (SETTINGS not a multiple of 6, PING not 8, padding past the end...). */
export const WL_ERR_H2_FRAME_SIZE = 'WL_ERR_H2_FRAME_SIZE';
/** A frame where it cannot be (DATA/HEADERS on stream 0, SETTINGS on a stream, CONTINUATION out of sequence). */
export const WL_ERR_H2_PROTOCOL = 'WL_ERR_H2_PROTOCOL';
/** A frame or header block larger than the parser buffers (`maxBuffered`): skipped. */
export const WL_ERR_H2_LIMIT = 'WL_ERR_H2_LIMIT';
/** Bytes were lost where the framing cannot be recovered by counting: the parser stops. */
export const WL_ERR_H2_GAP = 'WL_ERR_H2_GAP';
export type Http2ErrorCode =
  | typeof WL_ERR_H2_PREFACE
  | typeof WL_ERR_H2_FRAME_SIZE
  | typeof WL_ERR_H2_PROTOCOL
  | typeof WL_ERR_H2_LIMIT
  | typeof WL_ERR_H2_GAP;

export interface Http2Error extends DecodeErrorInfo {
  code: Http2ErrorCode | HpackErrorCode;
  layer: 'http2' | 'hpack';
  /** stream the frame belonged to (0 for connection frames) */
  streamId: number;
  /** frame type, when the error belongs to a frame */
  frameType?: number;
}

/**
 * request: the first block a client sends on a stream; response: a server's final (non-1xx) block;
 * informational: a 1xx block; trailers: any later block; push: a PUSH_PROMISE's request (`promisedStreamId`).
 */
export type Http2HeadersKind = 'request' | 'response' | 'informational' | 'trailers' | 'push';

/** One decoded header block. `fields` keeps every field in order, pseudo-headers included. */
export interface Http2Headers {
  streamId: number;
  kind: Http2HeadersKind;
  /** PUSH_PROMISE: the stream the pushed response comes on (`streamId` is the associated client stream) */
  promisedStreamId?: number;
  endStream: boolean;
  /** time of the first byte of the HEADERS / PUSH_PROMISE frame */
  tsUs: number;
  /** stream offset (bytes since the parser started, gaps included) of that frame's first byte */
  offset: number;
  fields: HpackField[];
  method?: string;
  scheme?: string;
  authority?: string;
  path?: string;
  /** extended CONNECT (RFC 8441) */
  protocol?: string;
  status?: number;
  /** fields whose name (and maybe value) referenced dynamic-table entries this decoder never saw */
  missing: number;
  /** the decoder's table was not known complete when this block was decoded (mid-stream start, earlier loss) */
  unreliable: boolean;
  /** compressed header block bytes (without padding and priority fields) */
  blockBytes: number;
  /** HEADERS/PUSH_PROMISE plus CONTINUATION frames */
  frames: number;
}

/** Per-stream totals in this direction, reported once when the stream ends in this direction. */
export interface Http2StreamStats {
  streamId: number;
  /** header blocks seen (request/response, 1xx, trailers) */
  headerBlocks: number;
  /** compressed header bytes */
  headerBytes: number;
  /** DATA payload bytes (padding excluded; bytes lost in a gap inside a DATA frame included) */
  dataBytes: number;
  dataFrames: number;
  /** first byte of the first HEADERS frame, or 0 */
  firstHeadersTsUs: number;
  /** first byte of the first DATA frame, or 0 */
  firstDataTsUs: number;
  lastTsUs: number;
  /** 'end-stream' (END_STREAM flag), 'reset' (RST_STREAM sent in this direction), 'evicted' (too many open streams) */
  end: 'end-stream' | 'reset' | 'evicted';
  /** RST_STREAM error code when end = 'reset' */
  errorCode?: number;
}

export interface Http2Handler {
  onHeaders(h: Http2Headers): void;
  /** one DATA frame: `bytes` of payload (padding excluded), reported when the frame is complete */
  onData(streamId: number, bytes: number, endStream: boolean, tsUs: number): void;
  onRst(streamId: number, errorCode: number, tsUs: number): void;
  onGoaway(lastStreamId: number, errorCode: number, debug: string, tsUs: number): void;
  onError(err: Http2Error): void;
  onStreamEnd?(stats: Http2StreamStats): void;
  onSettings?(entries: ReadonlyArray<readonly [id: number, value: number]>, ack: boolean, tsUs: number): void;
  onPing?(ack: boolean, tsUs: number): void;
  onWindowUpdate?(streamId: number, increment: number, tsUs: number): void;
}

export interface Http2ParserOptions {
  /** which endpoint sends the bytes this parser gets */
  side: 'client' | 'server';
  /**
   * client side: expect the 24-byte preface first (default true). False after an h2c upgrade when the caller
   * already consumed the preface, or mid-stream. Ignored for the server side.
   */
  preface?: boolean;
  /** the connection's start was not seen: HPACK references may be unresolvable (marked, not invented) */
  midStream?: boolean;
  /** this direction's decoder bound (the receiving endpoint's SETTINGS_HEADER_TABLE_SIZE), when known */
  tableSizeLimit?: number;
  /** largest frame payload or header block buffered (default 1 MiB); larger ones are skipped with an error */
  maxBuffered?: number;
  /** streams tracked at once before the oldest is dropped (default 4096) */
  maxStreams?: number;
  /**
   * After a gap the framing cannot absorb (see `gap`), go on at the bytes after it as if they began a frame, with
   * the HPACK table marked unreliable, when that frame's header is plausible (a known type, a length within the
   * receiver's SETTINGS_MAX_FRAME_SIZE, the reserved bit clear, DATA/HEADERS not on stream 0); otherwise stop.
   * Captured TCP segments usually begin at frame boundaries. Default false: the parser stops at such a gap.
   */
  resyncAfterGap?: boolean;
}

/** Is `buf` (from `s`) the whole client preface? */
export function isHttp2Preface(buf: Buffer, s = 0): boolean {
  return buf.length - s >= HTTP2_PREFACE.length && buf.compare(HTTP2_PREFACE, 0, HTTP2_PREFACE.length, s, s + HTTP2_PREFACE.length) === 0;
}

/** 2: buf[s..e) starts with the whole preface; 1: it is a proper prefix of it (wait for more); 0: not HTTP/2. */
export function matchHttp2Preface(buf: Buffer, s = 0, e: number = buf.length): 0 | 1 | 2 {
  const n = Math.min(e - s, HTTP2_PREFACE.length);
  for (let i = 0; i < n; i++) if (buf[s + i] !== HTTP2_PREFACE[i]) return 0;
  return n === HTTP2_PREFACE.length ? 2 : 1;
}

/**
 * Does buf[s..) start like a server's first HTTP/2 bytes (a SETTINGS frame on stream 0, no ACK, length a multiple
 * of 6)? For deciding a server direction whose client preface was not seen.
 */
export function looksLikeHttp2ServerStart(buf: Buffer, s = 0): boolean {
  if (buf.length - s < FRAME_HEADER_LEN) return false;
  const len = (buf[s] << 16) | (buf[s + 1] << 8) | buf[s + 2];
  return buf[s + 3] === FRAME_SETTINGS && (buf[s + 4] & FLAG_ACK) === 0 && len % 6 === 0 && len <= 16384 &&
    (buf.readUInt32BE(s + 5) & 0x7fffffff) === 0;
}

/**
 * Header fields as a `HeaderList` (records.ts). A field whose name is missing (mid-stream) becomes
 * `[':missing-<index>', value ?? '']`; with `pseudo` false the pseudo-headers (and missing-name fields) are left out.
 */
export function fieldsToHeaderList(fields: readonly HpackField[], pseudo = true): HeaderList {
  const out: HeaderList = [];
  for (const f of fields) {
    const name = f.name ?? `:missing-${f.missingIndex ?? 0}`;
    if (!pseudo && name.charCodeAt(0) === 58) continue;
    out.push([name, f.value ?? '']);
  }
  return out;
}

/** Link a connection's two parsers: SETTINGS_HEADER_TABLE_SIZE seen in one direction bounds the other's decoder. */
export function pairHttp2Parsers(clientToServer: Http2Parser, serverToClient: Http2Parser): void {
  clientToServer.peer = serverToClient;
  serverToClient.peer = clientToServer;
}

interface StreamState {
  id: number;
  headerBlocks: number;
  /** a request (client side) or final response (server side) was seen: later blocks are trailers */
  final: boolean;
  headerBytes: number;
  dataBytes: number;
  dataFrames: number;
  firstHeadersTsUs: number;
  firstDataTsUs: number;
  lastTsUs: number;
}

const S_PREFACE = 0;
const S_HEAD = 1;
const S_DATA_PADLEN = 2;
const S_DATA = 3;
const S_PAYLOAD = 4;
const S_SKIP = 5;
const S_DEAD = 6;

const EMPTY = Buffer.alloc(0);

export class Http2Parser {
  readonly side: 'client' | 'server';
  /** this direction's HPACK decoder */
  readonly hpack: HpackDecoder;
  /** the other direction's parser (see pairHttp2Parsers) */
  peer: Http2Parser | undefined;
  readonly midStream: boolean;
  /** frames parsed */
  frames = 0;
  /** stream offset: bytes consumed so far */
  offset = 0;
  /** the other side's SETTINGS_MAX_FRAME_SIZE etc. are not needed to parse; last SETTINGS seen here, for callers */
  readonly settings = new Map<number, number>();
  /** GOAWAY seen in this direction */
  goaway = false;

  private readonly handler: Http2Handler;
  private readonly maxBuffered: number;
  private readonly maxStreams: number;
  private state: number;
  private prefaceMatched = 0;
  // current frame
  private readonly hdr = Buffer.alloc(FRAME_HEADER_LEN);
  private hdrFill = 0;
  private fLen = 0;
  private fType = 0;
  private fFlags = 0;
  private fStream = 0;
  private fTs = 0;
  private fOffset = 0;
  // DATA
  private dataLeft = 0;
  private padLeft = 0;
  private dataCount = 0;
  // buffered payload / skip
  private pay: Buffer = EMPTY;
  private payFill = 0;
  private skipLeft = 0;
  // header block being gathered over CONTINUATION frames
  private block: Buffer = EMPTY;
  private blockFill = 0;
  private contStream = 0;
  private blockType = 0;
  private blockEndStream = false;
  private blockTs = 0;
  private blockOffset = 0;
  private blockFrames = 0;
  private blockPromised = 0;
  private blockTooBig = false;

  private readonly streams = new Map<number, StreamState>();
  private readonly resyncAfterGap: boolean;
  /** the next frame header follows a gap: checked for plausibility before it is believed */
  private afterGap = false;
  private readonly info: HpackBlockInfo = { missing: 0, sizeUpdates: 0 };

  constructor(handler: Http2Handler, opts: Http2ParserOptions) {
    this.handler = handler;
    this.side = opts.side;
    this.midStream = opts.midStream === true;
    const hopts: { midStream: boolean; tableSizeLimit?: number } = { midStream: this.midStream };
    if (opts.tableSizeLimit !== undefined) hopts.tableSizeLimit = opts.tableSizeLimit;
    this.hpack = new HpackDecoder(hopts);
    this.maxBuffered = opts.maxBuffered ?? 1 << 20;
    this.maxStreams = opts.maxStreams ?? 4096;
    this.resyncAfterGap = opts.resyncAfterGap === true;
    const preface = opts.side === 'client' && opts.preface !== false && !this.midStream;
    this.state = preface ? S_PREFACE : S_HEAD;
  }

  /** the parser stopped for good (not HTTP/2, or framing lost) */
  get dead(): boolean {
    return this.state === S_DEAD;
  }

  /** streams currently tracked in this direction */
  get openStreams(): number {
    return this.streams.size;
  }

  stop(): void {
    this.state = S_DEAD;
  }

  /** Feed the next bytes of this direction. `buf` is only read during the call. */
  push(buf: Buffer, tsUs: number): void {
    const end = buf.length;
    let pos = 0;
    while (pos < end) {
      switch (this.state) {
        case S_PREFACE: {
          const want = HTTP2_PREFACE.length - this.prefaceMatched;
          const n = Math.min(want, end - pos);
          for (let i = 0; i < n; i++) {
            if (buf[pos + i] !== HTTP2_PREFACE[this.prefaceMatched + i]) {
              this.error(WL_ERR_H2_PREFACE, this.offset + pos + i, 'client bytes do not start with the HTTP/2 preface', 0);
              this.state = S_DEAD;
              this.offset += end - pos;
              return;
            }
          }
          this.prefaceMatched += n;
          pos += n;
          if (this.prefaceMatched === HTTP2_PREFACE.length) this.state = S_HEAD;
          break;
        }
        case S_HEAD: {
          if (this.hdrFill === 0 && end - pos >= FRAME_HEADER_LEN) {
            this.fTs = tsUs;
            this.fOffset = this.offset + pos;
            this.frameHeader(buf, pos);
            pos += FRAME_HEADER_LEN;
          } else {
            if (this.hdrFill === 0) {
              this.fTs = tsUs;
              this.fOffset = this.offset + pos;
            }
            const n = Math.min(FRAME_HEADER_LEN - this.hdrFill, end - pos);
            buf.copy(this.hdr, this.hdrFill, pos, pos + n);
            this.hdrFill += n;
            pos += n;
            if (this.hdrFill === FRAME_HEADER_LEN) {
              this.hdrFill = 0;
              this.frameHeader(this.hdr, 0);
            }
          }
          break;
        }
        case S_DATA_PADLEN: {
          const pad = buf[pos++];
          if (pad > this.fLen - 1) {
            this.error(WL_ERR_H2_FRAME_SIZE, this.fOffset, `DATA padding ${pad} past the frame (${this.fLen} bytes)`, this.fStream, FRAME_DATA, pad + 1, this.fLen);
            this.skip(this.fLen - 1);
            break;
          }
          this.padLeft = pad;
          this.dataLeft = this.fLen - 1 - pad;
          this.state = S_DATA;
          if (this.dataLeft === 0 && this.padLeft === 0) this.endData();
          break;
        }
        case S_DATA: {
          const avail = end - pos;
          if (this.dataLeft > 0) {
            const n = avail < this.dataLeft ? avail : this.dataLeft;
            this.dataLeft -= n;
            this.dataCount += n;
            pos += n;
          } else {
            const n = avail < this.padLeft ? avail : this.padLeft;
            this.padLeft -= n;
            pos += n;
          }
          if (this.dataLeft === 0 && this.padLeft === 0) this.endData();
          break;
        }
        case S_PAYLOAD: {
          if (this.payFill === 0 && end - pos >= this.fLen) {
            const s = pos;
            pos += this.fLen;
            this.state = S_HEAD;
            this.frame(buf, s, pos);
          } else {
            const n = Math.min(this.fLen - this.payFill, end - pos);
            buf.copy(this.pay, this.payFill, pos, pos + n);
            this.payFill += n;
            pos += n;
            if (this.payFill === this.fLen) {
              this.payFill = 0;
              this.state = S_HEAD;
              this.frame(this.pay, 0, this.fLen);
            }
          }
          break;
        }
        case S_SKIP: {
          const n = Math.min(this.skipLeft, end - pos);
          this.skipLeft -= n;
          pos += n;
          if (this.skipLeft === 0) this.state = S_HEAD;
          break;
        }
        default:
          // dead
          this.offset += end - pos;
          return;
      }
    }
    this.offset += end;
  }

  /**
   * `n` bytes of this direction are missing (capture loss). Inside a DATA frame or a skipped frame they are
   * counted and parsing goes on; inside a header-bearing frame the block is lost (the HPACK table is marked
   * unreliable); anywhere else the framing is lost and the parser stops with WL_ERR_H2_GAP.
   */
  gap(n: number): void {
    if (n <= 0 || this.state === S_DEAD) return;
    const at = this.offset;
    this.offset += n;
    switch (this.state) {
      case S_DATA: {
        const left = this.dataLeft + this.padLeft;
        if (n <= left) {
          const d = n < this.dataLeft ? n : this.dataLeft;
          this.dataLeft -= d;
          this.dataCount += d;
          this.padLeft -= n - d;
          if (this.dataLeft === 0 && this.padLeft === 0) this.endData();
          return;
        }
        break;
      }
      case S_SKIP:
        if (n <= this.skipLeft) {
          this.skipLeft -= n;
          if (this.skipLeft === 0) this.state = S_HEAD;
          return;
        }
        break;
      case S_PAYLOAD:
        if (n <= this.fLen - this.payFill) {
          const t = this.fType;
          if (t === FRAME_HEADERS || t === FRAME_CONTINUATION || t === FRAME_PUSH_PROMISE) this.loseBlock();
          this.error(WL_ERR_H2_GAP, this.fOffset, `gap of ${n} bytes inside a frame of type ${t}: frame lost`, this.fStream, t);
          this.skipLeft = this.fLen - this.payFill - n;
          this.payFill = 0;
          this.state = this.skipLeft > 0 ? S_SKIP : S_HEAD;
          return;
        }
        break;
      default:
        break;
    }
    if (this.resyncAfterGap && this.state !== S_PREFACE) {
      // whatever frame was in progress is lost (a header block among them, maybe): go on at the next bytes
      this.error(WL_ERR_H2_GAP, at, `gap of ${n} bytes: frames lost, HPACK table unreliable; parsing goes on after it`, 0, undefined, n);
      this.contStream = 0;
      this.blockFill = 0;
      this.hpack.lostBlock();
      this.hdrFill = 0;
      this.payFill = 0;
      this.dataLeft = 0;
      this.padLeft = 0;
      this.skipLeft = 0;
      this.state = S_HEAD;
      this.afterGap = true;
      return;
    }
    this.error(WL_ERR_H2_GAP, at, `gap of ${n} bytes: HTTP/2 framing lost`, 0, undefined, n);
    this.hpack.lostBlock();
    this.state = S_DEAD;
  }

  /** after a gap: is the frame header just read plausible (else the framing is lost for good)? */
  private plausibleAfterGap(len: number, type: number, b: Buffer, p: number): boolean {
    const max = this.peer?.settings.get(SETTINGS_MAX_FRAME_SIZE) ?? 16384;
    if (type > FRAME_CONTINUATION || len > max || (b[p + 5] & 0x80) !== 0) return false;
    const sid = b.readUInt32BE(p + 5) & 0x7fffffff;
    if ((type === FRAME_DATA || type === FRAME_HEADERS || type === FRAME_CONTINUATION || type === FRAME_RST_STREAM) && sid === 0) return false;
    if ((type === FRAME_SETTINGS || type === FRAME_PING || type === FRAME_GOAWAY) && sid !== 0) return false;
    return true;
  }

  /**
   * Apply a SETTINGS payload received out of band: the base64url `HTTP2-Settings` header of an h2c upgrade
   * request (RFC 7540 3.2.1), as if this direction had sent it.
   */
  applySettingsPayload(payload: Buffer): void {
    this.settingsFrame(payload, 0, payload.length - (payload.length % 6), false, 0);
  }

  // --- frames ----------------------------------------------------------------------------------------------------

  private frameHeader(b: Buffer, p: number): void {
    const len = (b[p] << 16) | (b[p + 1] << 8) | b[p + 2];
    const type = b[p + 3];
    const flags = b[p + 4];
    const sid = ((b[p + 5] & 0x7f) << 24 | (b[p + 6] << 16) | (b[p + 7] << 8) | b[p + 8]) >>> 0;
    if (this.afterGap) {
      this.afterGap = false;
      if (!this.plausibleAfterGap(len, type, b, p)) {
        this.error(WL_ERR_H2_GAP, this.fOffset, `the bytes after a gap do not start a frame (type ${type}, length ${len}): HTTP/2 framing lost`, 0);
        this.state = S_DEAD;
        return;
      }
    }
    this.fLen = len;
    this.fType = type;
    this.fFlags = flags;
    this.fStream = sid;
    this.frames++;

    if (this.contStream !== 0 && (type !== FRAME_CONTINUATION || sid !== this.contStream)) {
      this.error(WL_ERR_H2_PROTOCOL, this.fOffset, `expected CONTINUATION on stream ${this.contStream}, got type ${type} on stream ${sid}`, sid, type);
      this.loseBlock();
    }

    switch (type) {
      case FRAME_DATA:
        if (sid === 0) {
          this.error(WL_ERR_H2_PROTOCOL, this.fOffset, 'DATA on stream 0', 0, type);
          this.skip(len);
          return;
        }
        this.dataCount = 0;
        if (flags & FLAG_PADDED) {
          if (len === 0) {
            this.error(WL_ERR_H2_FRAME_SIZE, this.fOffset, 'padded DATA without a pad length', sid, type, 1, 0);
            this.state = S_HEAD;
            return;
          }
          this.state = S_DATA_PADLEN;
          return;
        }
        this.dataLeft = len;
        this.padLeft = 0;
        this.state = S_DATA;
        if (len === 0) this.endData();
        return;
      case FRAME_HEADERS:
      case FRAME_PUSH_PROMISE:
      case FRAME_CONTINUATION:
        if (sid === 0) {
          this.error(WL_ERR_H2_PROTOCOL, this.fOffset, `header frame type ${type} on stream 0`, 0, type);
          this.loseBlock();
          this.skip(len);
          return;
        }
        break;
      case FRAME_SETTINGS:
        if (sid !== 0 || len % 6 !== 0 || ((flags & FLAG_ACK) && len !== 0)) {
          this.error(sid !== 0 ? WL_ERR_H2_PROTOCOL : WL_ERR_H2_FRAME_SIZE, this.fOffset, `bad SETTINGS (stream ${sid}, length ${len})`, sid, type);
          this.skip(len);
          return;
        }
        break;
      case FRAME_PING:
        if (len !== 8) return this.badLength(8);
        break;
      case FRAME_GOAWAY:
        if (len < 8) return this.badLength(8);
        break;
      case FRAME_RST_STREAM:
      case FRAME_WINDOW_UPDATE:
        if (len !== 4) return this.badLength(4);
        break;
      case FRAME_PRIORITY:
        // nothing we report: skip by counting
        if (len !== 5) return this.badLength(5);
        this.skip(len);
        return;
      default:
        // unknown and extension frames (ALTSVC, ORIGIN, ...) are skipped (RFC 9113 4.1)
        this.skip(len);
        return;
    }
    if (len > this.maxBuffered) {
      this.error(WL_ERR_H2_LIMIT, this.fOffset, `frame of ${len} bytes exceeds the ${this.maxBuffered}-byte buffer`, sid, type, len, this.maxBuffered);
      if (type === FRAME_HEADERS || type === FRAME_CONTINUATION || type === FRAME_PUSH_PROMISE) this.loseBlock();
      this.skip(len);
      return;
    }
    if (len === 0) {
      this.state = S_HEAD;
      this.frame(EMPTY, 0, 0);
      return;
    }
    if (this.pay.length < len) this.pay = Buffer.allocUnsafe(Math.max(len, 16384));
    this.payFill = 0;
    this.state = S_PAYLOAD;
  }

  private badLength(want: number): void {
    this.error(WL_ERR_H2_FRAME_SIZE, this.fOffset, `frame type ${this.fType} with length ${this.fLen} (expected ${want})`, this.fStream, this.fType, want, this.fLen);
    this.skip(this.fLen);
  }

  private skip(n: number): void {
    this.skipLeft = n;
    this.state = n > 0 ? S_SKIP : S_HEAD;
  }

  /** a complete non-DATA frame's payload is p[s..e) */
  private frame(p: Buffer, s: number, e: number): void {
    const sid = this.fStream;
    const flags = this.fFlags;
    const ts = this.fTs;
    switch (this.fType) {
      case FRAME_HEADERS:
      case FRAME_PUSH_PROMISE: {
        let off = s;
        let pad = 0;
        if (flags & FLAG_PADDED) {
          // an empty frame has no Pad Length byte: reading one would take a byte past the frame
          if (off >= e) {
            this.error(WL_ERR_H2_FRAME_SIZE, this.fOffset, 'padded header block without a pad length', sid, this.fType, 1, 0);
            this.loseBlock();
            return;
          }
          pad = p[off++];
        }
        let promised = 0;
        if (this.fType === FRAME_HEADERS) {
          if (flags & FLAG_PRIORITY) off += 5;
        } else {
          if (off + 4 <= e) promised = p.readUInt32BE(off) & 0x7fffffff;
          off += 4;
        }
        if (off + pad > e) {
          this.error(WL_ERR_H2_FRAME_SIZE, this.fOffset, 'padding or priority fields past the frame', sid, this.fType, off + pad - s, e - s);
          this.loseBlock();
          return;
        }
        this.blockType = this.fType;
        this.blockEndStream = this.fType === FRAME_HEADERS && (flags & FLAG_END_STREAM) !== 0;
        this.blockTs = ts;
        this.blockOffset = this.fOffset;
        this.blockFrames = 1;
        this.blockPromised = promised;
        this.blockTooBig = false;
        if (flags & FLAG_END_HEADERS) {
          this.headerBlock(p, off, e - pad);
        } else {
          this.contStream = sid;
          this.blockFill = 0;
          this.appendBlock(p, off, e - pad);
        }
        return;
      }
      case FRAME_CONTINUATION: {
        if (this.contStream === 0) {
          this.error(WL_ERR_H2_PROTOCOL, this.fOffset, 'CONTINUATION without HEADERS', sid, FRAME_CONTINUATION);
          return;
        }
        this.blockFrames++;
        this.appendBlock(p, s, e);
        if (flags & FLAG_END_HEADERS) {
          this.contStream = 0;
          if (this.blockTooBig) {
            this.error(WL_ERR_H2_LIMIT, this.fOffset, `header block exceeds ${this.maxBuffered} bytes: skipped`, sid, FRAME_CONTINUATION, undefined, this.maxBuffered);
            this.hpack.lostBlock();
            return;
          }
          this.headerBlock(this.block, 0, this.blockFill);
        }
        return;
      }
      case FRAME_SETTINGS:
        this.settingsFrame(p, s, e, (flags & FLAG_ACK) !== 0, ts);
        return;
      case FRAME_RST_STREAM: {
        const code = p.readUInt32BE(s);
        this.handler.onRst(sid, code, ts);
        const st = this.streams.get(sid);
        if (st !== undefined) this.endStream(st, 'reset', ts, code);
        return;
      }
      case FRAME_GOAWAY: {
        this.goaway = true;
        const last = p.readUInt32BE(s) & 0x7fffffff;
        const code = p.readUInt32BE(s + 4);
        this.handler.onGoaway(last, code, p.toString('latin1', s + 8, e), ts);
        return;
      }
      case FRAME_PING:
        this.handler.onPing?.((flags & FLAG_ACK) !== 0, ts);
        return;
      case FRAME_WINDOW_UPDATE:
        this.handler.onWindowUpdate?.(sid, p.readUInt32BE(s) & 0x7fffffff, ts);
        return;
      default:
        return;
    }
  }

  private settingsFrame(p: Buffer, s: number, e: number, ack: boolean, ts: number): void {
    const entries: Array<readonly [number, number]> = [];
    for (let i = s; i + 6 <= e; i += 6) {
      const id = p.readUInt16BE(i);
      const v = p.readUInt32BE(i + 2);
      entries.push([id, v]);
      this.settings.set(id, v);
      // our endpoint's decoder size bounds the *peer's* encoder, i.e. the other direction's decoder
      if (id === SETTINGS_HEADER_TABLE_SIZE && this.peer !== undefined) this.peer.hpack.setLimit(v);
    }
    this.handler.onSettings?.(entries, ack, ts);
  }

  private appendBlock(p: Buffer, s: number, e: number): void {
    const n = e - s;
    if (this.blockTooBig) return;
    if (this.blockFill + n > this.maxBuffered) {
      this.blockTooBig = true;
      return;
    }
    if (this.block.length < this.blockFill + n) {
      const nb = Buffer.allocUnsafe(Math.max(this.blockFill + n, this.block.length * 2, 16384));
      this.block.copy(nb, 0, 0, this.blockFill);
      this.block = nb;
    }
    p.copy(this.block, this.blockFill, s, e);
    this.blockFill += n;
  }

  /** a header block could not be decoded (skipped or cut): its table inserts are unknown */
  private loseBlock(): void {
    this.contStream = 0;
    this.blockFill = 0;
    this.hpack.lostBlock();
  }

  private headerBlock(b: Buffer, s: number, e: number): void {
    const sid = this.fStream;
    const unreliable = !this.hpack.reliable;
    const fields: HpackField[] = [];
    const err = this.hpack.decode(b, s, e, fields, this.info);
    if (err !== undefined) {
      this.handler.onError({ ...err, offset: this.fOffset, message: `${err.message} (block offset ${err.offset}, stream ${sid})`, streamId: sid, frameType: this.blockType });
    }
    const h: Http2Headers = {
      streamId: sid,
      kind: 'request',
      endStream: this.blockEndStream,
      tsUs: this.blockTs,
      offset: this.blockOffset,
      fields,
      missing: this.info.missing,
      unreliable: unreliable || err !== undefined,
      blockBytes: e - s,
      frames: this.blockFrames,
    };
    let hasPseudo = false;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i];
      const n = f.name;
      if (n === undefined || n.charCodeAt(0) !== 58) continue;
      hasPseudo = true;
      switch (n) {
        case ':method': h.method = f.value; break;
        case ':scheme': h.scheme = f.value; break;
        case ':authority': h.authority = f.value; break;
        case ':path': h.path = f.value; break;
        case ':protocol': h.protocol = f.value; break;
        case ':status': {
          const v = Number(f.value);
          if (Number.isInteger(v)) h.status = v;
          break;
        }
        default: break;
      }
    }
    if (this.blockType === FRAME_PUSH_PROMISE) {
      h.kind = 'push';
      h.promisedStreamId = this.blockPromised;
      this.handler.onHeaders(h);
      return;
    }
    let st = this.streams.get(sid);
    const isNew = st === undefined;
    if (st === undefined) st = this.openStream(sid);
    st.headerBlocks++;
    st.headerBytes += e - s;
    if (st.firstHeadersTsUs === 0) st.firstHeadersTsUs = this.blockTs;
    st.lastTsUs = this.blockTs;
    // mid-stream, the first block seen on a stream may be trailers: without any pseudo-header or unknown field it is
    const firstIsTrailers = isNew && this.midStream && !hasPseudo && h.missing === 0 && fields.length > 0;
    if (st.final || firstIsTrailers) {
      h.kind = 'trailers';
      st.final = true;
    } else if (this.side === 'client') {
      h.kind = 'request';
      st.final = true;
    } else if (h.status !== undefined && h.status >= 100 && h.status < 200) {
      h.kind = 'informational';
    } else {
      h.kind = 'response';
      st.final = true;
    }
    this.handler.onHeaders(h);
    if (h.endStream) this.endStream(st, 'end-stream', this.blockTs);
  }

  private endData(): void {
    const sid = this.fStream;
    const endStream = (this.fFlags & FLAG_END_STREAM) !== 0;
    const n = this.dataCount;
    this.state = S_HEAD;
    let st = this.streams.get(sid);
    if (st === undefined) st = this.openStream(sid);
    st.dataBytes += n;
    st.dataFrames++;
    if (st.firstDataTsUs === 0) st.firstDataTsUs = this.fTs;
    st.lastTsUs = this.fTs;
    this.handler.onData(sid, n, endStream, this.fTs);
    if (endStream) this.endStream(st, 'end-stream', this.fTs);
  }

  private openStream(id: number): StreamState {
    if (this.streams.size >= this.maxStreams) {
      const oldest = this.streams.values().next().value;
      if (oldest !== undefined) this.endStream(oldest, 'evicted', oldest.lastTsUs);
    }
    const st: StreamState = {
      id, headerBlocks: 0, final: false, headerBytes: 0, dataBytes: 0, dataFrames: 0,
      firstHeadersTsUs: 0, firstDataTsUs: 0, lastTsUs: 0,
    };
    this.streams.set(id, st);
    return st;
  }

  private endStream(st: StreamState, end: Http2StreamStats['end'], ts: number, errorCode?: number): void {
    this.streams.delete(st.id);
    if (this.handler.onStreamEnd === undefined) return;
    const stats: Http2StreamStats = {
      streamId: st.id, headerBlocks: st.headerBlocks, headerBytes: st.headerBytes, dataBytes: st.dataBytes,
      dataFrames: st.dataFrames, firstHeadersTsUs: st.firstHeadersTsUs, firstDataTsUs: st.firstDataTsUs,
      lastTsUs: ts > st.lastTsUs ? ts : st.lastTsUs, end,
    };
    if (errorCode !== undefined) stats.errorCode = errorCode;
    this.handler.onStreamEnd(stats);
  }

  private error(code: Http2ErrorCode, offset: number, message: string, streamId: number, frameType?: number, required?: number, actual?: number): void {
    const e: Http2Error = { code, layer: 'http2', offset, message, streamId };
    if (frameType !== undefined) e.frameType = frameType;
    if (required !== undefined) e.required = required;
    if (actual !== undefined) e.actual = actual;
    this.handler.onError(e);
  }
}
