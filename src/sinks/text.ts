/**
 * httplog text lines. One line per request head (CQ/SQ) and per response head (CR/SR), written as each head is
 * seen; interim 1xx responses get their own line. Fields are separated by one space and a missing field is an
 * empty string, exactly as httplog:
 *   TS CLIENT#PORT SERVER#PORT CQ|SQ METHOD URI VERSION HOST USER_AGENT
 *   TS SERVER#PORT CLIENT#PORT CR|SR VERSION STATUS REASON CONTENT_LENGTH CONTENT_TYPE
 */
import type {
  ConnInfo,
  HttpEventSink,
  HttpRequestEvent,
  HttpResponseEvent,
  HttpResponseHead,
  HttpTransaction,
  LineKind,
  TlsHelloEvent,
} from '../records.js';
import { tlsVersionName } from '../proto/tls.js';
import { isByteLineSink, type ByteLineSink, type LineSink } from './log-writer.js';
import { LocalTimeFormatter, type OffsetFn } from './local-time.js';
import { contentLengthText } from '../proto/http1/index.js';

// A header value or URI may not carry CR/LF (the parser stops lines there), but a line must stay one line
// whatever a peer sends: control characters that would break it become spaces. Checked field by field (the
// time stamp and the numbers cannot hold them): scanning the finished line would flatten it into one more copy.
const LINE_BREAKERS = /[\r\n]/g;

function oneLine(s: string): string {
  return s.indexOf('\n') < 0 && s.indexOf('\r') < 0 ? s : s.replace(LINE_BREAKERS, ' ');
}

function contentLengthField(res: HttpResponseHead): string {
  if (res.contentLength !== undefined) return String(res.contentLength);
  // The header's value as sent, when the parser could not make a number of it.
  return contentLengthText(res);
}

export class TextFormatter {
  private readonly time: LocalTimeFormatter;

  constructor(offset?: OffsetFn) {
    this.time = new LocalTimeFormatter(offset);
  }

  requestLine(ev: HttpRequestEvent): string {
    // Plain concatenation: caching the IP#PORT strings per connection in a WeakMap cost more (GC of ephemerons).
    const r = ev.req;
    const c = ev.conn;
    return `${this.time.stamp(r.tsUs)} ${oneLine(c.clientIp)}#${c.clientPort} ${oneLine(c.serverIp)}#${c.serverPort} ${oneLine(c.kind)} ${oneLine(r.method)} ${oneLine(r.uri ?? '')} ${oneLine(r.version)} ${oneLine(r.host ?? '')} ${oneLine(r.userAgent ?? '')}`;
  }

  responseLine(ev: HttpResponseEvent): string {
    const r = ev.res;
    const c = ev.conn;
    return `${this.time.stamp(r.tsUs)} ${oneLine(c.serverIp)}#${c.serverPort} ${oneLine(c.clientIp)}#${c.clientPort} ${responseKind(c)} ${oneLine(r.version)} ${r.status === 0 ? '' : r.status} ${oneLine(r.reason)} ${oneLine(contentLengthField(r))} ${oneLine(r.contentType ?? '')}`;
  }
}

/**
 * A TLS connection's ClientHello, in the request line's place:
 *   TS CLIENT#PORT SERVER#PORT CQ|SQ TLS VERSION SNI ALPN
 * VERSION is the highest offered without its space (`TLSv1.3`, as openssl and tshark spell it); SNI and the
 * comma-separated ALPN list are empty fields when absent.
 */
export function tlsLine(time: LocalTimeFormatter, ev: TlsHelloEvent): string {
  const c = ev.conn;
  const v = tlsVersionName(ev.version).replace(/^(TLS|SSL) /, '$1v');
  return `${time.stamp(ev.tsUs)} ${oneLine(c.clientIp)}#${c.clientPort} ${oneLine(c.serverIp)}#${c.serverPort} ${c.kind} TLS ${v} ${oneLine(ev.sni ?? '').replace(/ /g, '_')} ${oneLine(ev.alpn.join(',')).replace(/ /g, '_')}`;
}

export function responseKind(conn: ConnInfo): LineKind {
  return conn.kind === 'CQ' ? 'CR' : 'SR';
}

/**
 * Writes one line's fields as UTF-8 straight into a writer's buffer, with CR/LF as spaces: the same bytes as
 * Buffer.from(oneLine(line)), without building the line string (its pieces, the flattening and the encoding were
 * most of a line's cost). Lone surrogates become U+FFFD as Buffer.from makes them; fields are always separated by
 * ASCII, so no surrogate pair spans two fields.
 */
class LineEncoder {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;

  str(s: string): void {
    const b = this.buf;
    let p = this.pos;
    const n = s.length;
    for (let i = 0; i < n; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        b[p++] = c === 10 || c === 13 ? 32 : c;
      } else if (c < 0x800) {
        b[p++] = 0xc0 | (c >> 6);
        b[p++] = 0x80 | (c & 0x3f);
      } else {
        if (c >= 0xd800 && c <= 0xdfff) {
          const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
          if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
            c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
            i++;
            b[p++] = 0xf0 | (c >> 18);
            b[p++] = 0x80 | ((c >> 12) & 0x3f);
            b[p++] = 0x80 | ((c >> 6) & 0x3f);
            b[p++] = 0x80 | (c & 0x3f);
            continue;
          }
          c = 0xfffd;
        }
        b[p++] = 0xe0 | (c >> 12);
        b[p++] = 0x80 | ((c >> 6) & 0x3f);
        b[p++] = 0x80 | (c & 0x3f);
      }
    }
    this.pos = p;
  }

  /** a number as `${n}` prints it */
  num(n: number): void {
    if (n >= 0 && n <= 0x7fffffff && Math.floor(n) === n) {
      const b = this.buf;
      let p = this.pos;
      if (n >= 10) {
        let d = 10;
        while (d * 10 <= n) d *= 10;
        for (; d >= 1; d = Math.floor(d / 10)) b[p++] = 48 + (Math.floor(n / d) % 10);
      } else b[p++] = 48 + n;
      this.pos = p;
    } else this.str(String(n));
  }

  byte(c: number): void {
    this.buf[this.pos++] = c;
  }
}

/** bytes a number can take in a line (`${n}` of any double is at most 24 characters) */
const NUM_MAX = 24;
const SP_ = 0x20;
const HASH = 0x23;

/** The httplog text sink. transaction() is ignored: lines are written per head. */
export class TextSink implements HttpEventSink {
  private readonly fmt: TextFormatter;
  private readonly time: LocalTimeFormatter;
  /** the writer, when it takes lines as bytes */
  private readonly bytes: ByteLineSink | undefined;
  private readonly enc = new LineEncoder();

  constructor(
    private readonly out: LineSink,
    opts: { offset?: OffsetFn } = {},
  ) {
    this.fmt = new TextFormatter(opts.offset);
    this.time = new LocalTimeFormatter(opts.offset);
    this.bytes = isByteLineSink(out) ? out : undefined;
  }

  request(ev: HttpRequestEvent): void {
    if (this.bytes !== undefined && this.requestBytes(this.bytes, ev)) return;
    this.out.write(this.fmt.requestLine(ev), ev.req.tsUs, ev.conn.kind);
  }

  response(ev: HttpResponseEvent): void {
    if (this.bytes !== undefined && this.responseBytes(this.bytes, ev)) return;
    this.out.write(this.fmt.responseLine(ev), ev.res.tsUs, responseKind(ev.conn));
  }

  transaction(_tx: HttpTransaction): void {}

  tls(ev: TlsHelloEvent): void {
    this.out.write(tlsLine(this.time, ev), ev.tsUs, ev.conn.kind);
  }

  /** TS: the cached text up to the second, then the milliseconds (LocalTimeFormatter.stamp's arithmetic) */
  private stamp(tsUs: number): void {
    const prefix = this.time.secondPrefix(tsUs);
    const ms = Math.floor(tsUs / 1000);
    const m = ms - Math.floor(ms / 1000) * 1000;
    const enc = this.enc;
    enc.str(prefix);
    if (m >= 0 && m <= 999) {
      enc.byte(48 + Math.floor(m / 100));
      enc.byte(48 + (Math.floor(m / 10) % 10));
      enc.byte(48 + (m % 10));
    } else enc.str(this.time.stamp(tsUs).slice(prefix.length)); // not a finite time: whatever stamp() makes of it
  }

  /** requestLine() as bytes; false when the writer cannot take it this way */
  private requestBytes(w: ByteLineSink, ev: HttpRequestEvent): boolean {
    const r = ev.req;
    const c = ev.conn;
    const host = r.host ?? '';
    const ua = r.userAgent ?? '';
    const uri = r.uri ?? ''; // a request line without a target: an empty field, as httplog prints a missing one
    const chars = 32 + c.clientIp.length + c.serverIp.length + c.kind.length + r.method.length + uri.length +
      r.version.length + host.length + ua.length;
    const buf = w.reserveLine(chars * 3 + 2 * NUM_MAX + 16, r.tsUs, c.kind);
    if (buf === undefined) return false;
    const enc = this.enc;
    enc.buf = buf;
    enc.pos = w.lineStart;
    this.stamp(r.tsUs);
    enc.byte(SP_); enc.str(c.clientIp); enc.byte(HASH); enc.num(c.clientPort);
    enc.byte(SP_); enc.str(c.serverIp); enc.byte(HASH); enc.num(c.serverPort);
    enc.byte(SP_); enc.str(c.kind);
    enc.byte(SP_); enc.str(r.method);
    enc.byte(SP_); enc.str(uri);
    enc.byte(SP_); enc.str(r.version);
    enc.byte(SP_); enc.str(host);
    enc.byte(SP_); enc.str(ua);
    enc.byte(0x0a);
    w.commitLine(enc.pos);
    return true;
  }

  /** responseLine() as bytes; false when the writer cannot take it this way */
  private responseBytes(w: ByteLineSink, ev: HttpResponseEvent): boolean {
    const r = ev.res;
    const c = ev.conn;
    const kind = responseKind(c);
    const cl = r.contentLength;
    const clText = cl === undefined ? contentLengthText(r) : '';
    const ctype = r.contentType ?? '';
    const chars = 32 + c.serverIp.length + c.clientIp.length + r.version.length + r.reason.length + clText.length + ctype.length;
    const buf = w.reserveLine(chars * 3 + 4 * NUM_MAX + 16, r.tsUs, kind);
    if (buf === undefined) return false;
    const enc = this.enc;
    enc.buf = buf;
    enc.pos = w.lineStart;
    this.stamp(r.tsUs);
    enc.byte(SP_); enc.str(c.serverIp); enc.byte(HASH); enc.num(c.serverPort);
    enc.byte(SP_); enc.str(c.clientIp); enc.byte(HASH); enc.num(c.clientPort);
    enc.byte(SP_); enc.str(kind);
    enc.byte(SP_); enc.str(r.version);
    enc.byte(SP_);
    if (r.status !== 0) enc.num(r.status); // 0: an HTTP/0.9 answer has no status line
    enc.byte(SP_); enc.str(r.reason);
    enc.byte(SP_);
    if (cl !== undefined) enc.num(cl);
    else enc.str(clText);
    enc.byte(SP_); enc.str(ctype);
    enc.byte(0x0a);
    w.commitLine(enc.pos);
    return true;
  }
}
