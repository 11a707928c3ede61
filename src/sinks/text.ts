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
} from '../records.js';
import type { LineSink } from './log-writer.js';
import { LocalTimeFormatter, type OffsetFn } from './local-time.js';

// A header value or URI may not carry CR/LF (the parser stops lines there), but a line must stay one line
// whatever a peer sends: control characters that would break it become spaces.
const LINE_BREAKERS = /[\r\n]/g;

function oneLine(s: string): string {
  return s.indexOf('\n') < 0 && s.indexOf('\r') < 0 ? s : s.replace(LINE_BREAKERS, ' ');
}

function contentLengthField(res: HttpResponseHead): string {
  if (res.contentLength !== undefined) return String(res.contentLength);
  // The header's value as sent, when the parser could not make a number of it.
  for (const [name, value] of res.headers) {
    if (name.length === 14 && name.toLowerCase() === 'content-length') return value.trim();
  }
  return '';
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
    return oneLine(
      `${this.time.stamp(r.tsUs)} ${c.clientIp}#${c.clientPort} ${c.serverIp}#${c.serverPort} ${c.kind} ${r.method} ${r.uri} ${r.version} ${r.host ?? ''} ${r.userAgent ?? ''}`,
    );
  }

  responseLine(ev: HttpResponseEvent): string {
    const r = ev.res;
    const c = ev.conn;
    return oneLine(
      `${this.time.stamp(r.tsUs)} ${c.serverIp}#${c.serverPort} ${c.clientIp}#${c.clientPort} ${responseKind(c)} ${r.version} ${r.status} ${r.reason} ${contentLengthField(r)} ${r.contentType ?? ''}`,
    );
  }
}

export function responseKind(conn: ConnInfo): LineKind {
  return conn.kind === 'CQ' ? 'CR' : 'SR';
}

/** The httplog text sink. transaction() is ignored: lines are written per head. */
export class TextSink implements HttpEventSink {
  private readonly fmt: TextFormatter;

  constructor(
    private readonly out: LineSink,
    opts: { offset?: OffsetFn } = {},
  ) {
    this.fmt = new TextFormatter(opts.offset);
  }

  request(ev: HttpRequestEvent): void {
    this.out.write(this.fmt.requestLine(ev), ev.req.tsUs, ev.conn.kind);
  }

  response(ev: HttpResponseEvent): void {
    this.out.write(this.fmt.responseLine(ev), ev.res.tsUs, responseKind(ev.conn));
  }

  transaction(_tx: HttpTransaction): void {}
}
