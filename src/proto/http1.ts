/**
 * HTTP/1.x message heads, incrementally.
 *
 * `Http1Parser` is fed one direction's reassembled bytes in any split (down to 1-byte chunks) and reports heads,
 * body byte counts (bodies are skipped by counting, never copied) and message ends to an `Http1Handler`. A head
 * that arrives whole in one chunk is parsed in place; only a head split across chunks is copied, into one
 * reusable buffer per direction. `parseRequestHead` / `parseResponseHead` parse a head from a single buffer,
 * optionally truncated (no-reassembly mode, snaplen cuts): then only complete lines are used and a field cut
 * mid-line is left out.
 */
import type { DecodeErrorInfo, HeaderList, HttpRequestHead, HttpResponseHead } from '../records.js';

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

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;

/** RFC 9110 tchar */
const TCHAR = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const ch = String.fromCharCode(c);
  TCHAR[c] = /[A-Za-z0-9!#$%&'*+\-.^_`|~]/.test(ch) ? 1 : 0;
}
const isDigit = (b: number): boolean => b >= 48 && b <= 57;
interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}
/**
 * buf[s..e) as a string, one char per byte (RFC 9110: field values are octets; obs-text survives).
 * Buffer#latin1Slice is the native call behind toString('latin1', s, e) without its argument and encoding checks
 * (half the cost per call); it throws where toString clamps, so an end past the buffer takes toString.
 */
const latin1 = (buf: Buffer, s: number, e: number): string =>
  e <= buf.length ? (buf as unknown as Latin1Slicer).latin1Slice(s, e) : buf.toString('latin1', s, e);

/** Methods common enough to trust a request line whose end is not in the segment. */
const KNOWN_METHODS = new Set([
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'PROPFIND', 'PROPPATCH',
  'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'REPORT', 'SEARCH', 'PURGE',
]);

export const HTTP_START_NONE = 0;
export const HTTP_START_REQUEST = 1;
export const HTTP_START_RESPONSE = 2;
export type HttpStartKind = 0 | 1 | 2;

/** Role of a direction: which kind of message it carries (0 = not known yet, decided by its first start line). */
export type Http1Role = 0 | 1 | 2;

// startLineState results: kind bits plus COMPLETE when the whole line was seen and is valid
const SL_NO = 0;
const SL_COMPLETE = 4;
const MAX_METHOD = 32;

/**
 * Validate the start line at buf[s..e) as far as it goes. Returns 0 when it cannot be an HTTP/1.x start line,
 * else the kind (1 request, 2 response), plus 4 when the line is complete (LF seen). `role` restricts the kind.
 * Cost is bounded by the line length.
 */
export function startLineState(buf: Buffer, s: number, e: number, role: Http1Role = 0): number {
  if (s >= e) return role === 0 ? HTTP_START_REQUEST : role; // nothing yet: anything is possible
  let resp: boolean;
  if (role === 2) resp = true;
  else if (role === 1) resp = false;
  else resp = buf[s] === 0x48 && (s + 1 >= e || buf[s + 1] === 0x54); // "HT" (HEAD differs at the 2nd byte)
  let i = s;
  if (resp) {
    const pat = 'HTTP/0.0 000';
    for (let j = 0; j < pat.length; j++, i++) {
      if (i >= e) return HTTP_START_RESPONSE;
      const b = buf[i];
      const p = pat.charCodeAt(j);
      if (p === 48 ? !isDigit(b) : b !== p) return SL_NO;
    }
    if (i >= e) return HTTP_START_RESPONSE;
    const b = buf[i];
    if (b === LF) return HTTP_START_RESPONSE | SL_COMPLETE;
    if (b === CR) {
      if (i + 1 >= e) return HTTP_START_RESPONSE;
      return buf[i + 1] === LF ? HTTP_START_RESPONSE | SL_COMPLETE : SL_NO;
    }
    if (b !== SP) return SL_NO;
    // reason phrase: anything but CTLs (HT allowed) up to the line end
    for (i++; i < e; i++) {
      const c = buf[i];
      if (c === LF) return HTTP_START_RESPONSE | SL_COMPLETE;
      if (c === CR) {
        if (i + 1 >= e) return HTTP_START_RESPONSE;
        return buf[i + 1] === LF ? HTTP_START_RESPONSE | SL_COMPLETE : SL_NO;
      }
      if ((c < 32 && c !== HT) || c === 127) return SL_NO;
    }
    return HTTP_START_RESPONSE;
  }
  // request: method SP target SP HTTP/d.d CRLF
  while (i < e && TCHAR[buf[i]] === 1) i++;
  if (i - s > MAX_METHOD) return SL_NO;
  if (i >= e) return HTTP_START_REQUEST;
  if (i === s || buf[i] !== SP) return SL_NO;
  i++;
  const t = i;
  while (i < e) {
    const c = buf[i];
    if (c <= 32 || c === 127) break;
    i++;
  }
  if (i >= e) return HTTP_START_REQUEST;
  if (i === t || buf[i] !== SP) return SL_NO;
  i++;
  const pat = 'HTTP/0.0';
  for (let j = 0; j < pat.length; j++, i++) {
    if (i >= e) return HTTP_START_REQUEST;
    const b = buf[i];
    const p = pat.charCodeAt(j);
    if (p === 48 ? !isDigit(b) : b !== p) return SL_NO;
  }
  if (i >= e) return HTTP_START_REQUEST;
  if (buf[i] === LF) return HTTP_START_REQUEST | SL_COMPLETE;
  if (buf[i] !== CR) return SL_NO;
  if (i + 1 >= e) return HTTP_START_REQUEST;
  return buf[i + 1] === LF ? HTTP_START_REQUEST | SL_COMPLETE : SL_NO;
}

/**
 * Does buf[s..e) (one segment's payload) begin an HTTP/1.x message? 1 request line, 2 status line, 0 no.
 * A start line whose end is not in the buffer (snaplen, MSS) is accepted when what is there is valid and, for
 * a request, the method is a well-known one. First-byte rejection keeps non-HTTP segments cheap.
 */
export function looksLikeHttpStart(buf: Buffer, s = 0, e: number = buf.length): HttpStartKind {
  if (e - s < 4) return HTTP_START_NONE;
  const b0 = buf[s];
  if (b0 < 0x41 || b0 > 0x5a) return HTTP_START_NONE; // request methods and "HTTP/" start with A-Z
  const st = startLineState(buf, s, e, 0);
  if (st === SL_NO) return HTTP_START_NONE;
  const kind = (st & 3) as HttpStartKind;
  if (st & SL_COMPLETE) return kind;
  if (kind === HTTP_START_RESPONSE) return e - s >= 12 ? kind : HTTP_START_NONE; // need "HTTP/1.1 200"
  const sp = buf.indexOf(SP, s);
  if (sp < 0 || sp >= e) return HTTP_START_NONE;
  return KNOWN_METHODS.has(latin1(buf, s, sp)) ? kind : HTTP_START_NONE;
}

/**
 * Find the end of a head (the byte after the blank line) in buf[s..e), or return a negative number
 * -(1 + state) where state carries a line end across chunks: 1 = buffer ended just after LF, 2 = after LF CR.
 */
function scanHeadEnd(buf: Buffer, s: number, e: number, eol: number): number {
  let i = s;
  if (eol !== 0) {
    if (i >= e) return -(1 + eol);
    if (eol === 1 && buf[i] === CR) {
      i++;
      eol = 2;
      if (i >= e) return -3;
    }
    if (buf[i] === LF) return i + 1;
  }
  for (;;) {
    const lf = buf.indexOf(LF, i);
    if (lf < 0 || lf >= e) return -1;
    const k = lf + 1;
    if (k >= e) return -2;
    const b = buf[k];
    if (b === LF) return k + 1;
    if (b === CR) {
      if (k + 1 >= e) return -3;
      if (buf[k + 1] === LF) return k + 2;
    }
    i = k;
  }
}

/** End of the head (index after the blank line, CRLF or bare LF) in buf[s..e), or -1. */
export function findHeadEnd(buf: Buffer, s = 0, e: number = buf.length): number {
  const r = scanHeadEnd(buf, s, e, 0);
  return r >= 0 ? r : -1;
}

/** Framing facts found while parsing headers that HttpRequestHead/HttpResponseHead do not carry. */
interface FramingScratch {
  /** Transfer-Encoding present but its last coding is not chunked */
  teOther: boolean;
  /** Content-Length present but not a valid number (or conflicting values) */
  clInvalid: boolean;
}
const framing: FramingScratch = { teOther: false, clInvalid: false };

/** parse "123" or "123, 123" (equal list members); -1 when invalid */
function parseContentLength(v: string): number {
  let n = -1;
  for (const part of v.indexOf(',') < 0 ? [v] : v.split(',')) {
    const p = part.trim();
    if (p.length === 0 || p.length > 15 || !/^[0-9]+$/.test(p)) return -1;
    const x = Number(p);
    if (n >= 0 && x !== n) return -1;
    n = x;
  }
  return n;
}

interface HeadFields {
  host?: string;
  userAgent?: string;
  contentLength?: number;
  contentType?: string;
  chunked: boolean;
  /** the first Content-Length header's value as sent (the text sink prints it when it is not a number) */
  clText?: string;
}

/** parse*Head's fields, reused (they are copied onto the head; parsing is synchronous and never re-entered) */
const fields: HeadFields = { host: undefined, userAgent: undefined, contentLength: undefined, contentType: undefined, chunked: false, clText: undefined };
function resetFields(): HeadFields {
  fields.host = fields.userAgent = fields.contentType = fields.clText = undefined;
  fields.contentLength = undefined;
  fields.chunked = false;
  return fields;
}

function trimEnd(buf: Buffer, s: number, e: number): number {
  while (e > s && (buf[e - 1] === SP || buf[e - 1] === HT || buf[e - 1] === CR)) e--;
  return e;
}
function trimStart(buf: Buffer, s: number, e: number): number {
  while (s < e && (buf[s] === SP || buf[s] === HT)) s++;
  return s;
}

// Header names the head's fields come from, recognised from the bytes: other headers cost no string at all
// unless someone reads `headers`. ASCII case folding is exact here: no other Latin-1 character lowercases to ASCII.
const H_NONE = -1;
const H_OTHER = 0;
const H_HOST = 1;
const H_UA = 2;
const H_CTYPE = 3;
const H_CLEN = 4;
const H_TE = 5;
const LOWER = new Uint8Array(256);
for (let c = 0; c < 256; c++) LOWER[c] = c >= 65 && c <= 90 ? c + 32 : c;

function nameId(buf: Buffer, s: number, e: number): number {
  let want: string, id: number;
  switch (e - s) {
    case 4: want = 'host'; id = H_HOST; break;
    case 10: want = 'user-agent'; id = H_UA; break;
    case 12: want = 'content-type'; id = H_CTYPE; break;
    case 14: want = 'content-length'; id = H_CLEN; break;
    case 17: want = 'transfer-encoding'; id = H_TE; break;
    default: return H_OTHER;
  }
  for (let i = 0; i < want.length; i++) if (LOWER[buf[s + i]] !== want.charCodeAt(i)) return H_OTHER;
  return id;
}

/** A Content-Length value of 1-15 plain digits, or -1 (then the string rules of parseContentLength apply). */
function digitsValue(buf: Buffer, s: number, e: number): number {
  if (e <= s || e - s > 15) return -1;
  let n = 0;
  for (let i = s; i < e; i++) {
    const d = buf[i] - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Header lines from buf[pos..e): stops at the blank line. With `complete` false the last line may be cut: it is
 * left out, and so is a header whose obs-fold continuation is cut. Fills `f`/`fr` from the headers they need and,
 * when `list` is given, pushes every header. Strings are slices of `text`, the head's bytes from buf[base] on as
 * Latin-1 (one native call per head instead of two per header).
 */
function scanHeaders(
  buf: Buffer, pos: number, e: number, complete: boolean, text: string, base: number,
  f: HeadFields, fr: FramingScratch, list: HeaderList | undefined,
): void {
  let id = H_NONE; // the pending header (committed when the next line shows it is not continued)
  let ns = 0, ne = 0, vs = 0, ve = 0;
  let folded: string | undefined; // its value once a continuation line was joined to it
  while (pos < e) {
    const lf = buf.indexOf(LF, pos);
    if (lf < 0 || lf >= e) {
      // cut line: drop it; if it continues the pending header (obs-fold), that header is cut too
      if (!complete && id !== H_NONE && (buf[pos] === SP || buf[pos] === HT)) id = H_NONE;
      break;
    }
    const lineEnd = lf > pos && buf[lf - 1] === CR ? lf - 1 : lf;
    if (lineEnd === pos) {
      pos = e;
      break; // blank line: end of head
    }
    const c0 = buf[pos];
    if (c0 === SP || c0 === HT) {
      // obs-fold: continuation of the previous value, joined by one space
      if (id > H_OTHER || (id === H_OTHER && list !== undefined)) {
        const cs = trimStart(buf, pos, lineEnd);
        const ce = trimEnd(buf, cs, lineEnd);
        if (ce > cs) {
          const value = folded ?? text.slice(vs - base, ve - base);
          const part = text.slice(cs - base, ce - base);
          folded = value.length > 0 ? value + ' ' + part : part;
        }
      }
    } else {
      if (id !== H_NONE) commitHeader(buf, text, base, id, ns, ne, vs, ve, folded, f, fr, list);
      id = H_NONE;
      const colon = buf.indexOf(0x3a, pos);
      if (colon > pos && colon < lineEnd) {
        ne = colon;
        while (ne > pos && (buf[ne - 1] === SP || buf[ne - 1] === HT)) ne--; // tolerate "Name :"
        ns = pos;
        id = nameId(buf, ns, ne);
        vs = trimStart(buf, colon + 1, lineEnd);
        ve = trimEnd(buf, vs, lineEnd);
        folded = undefined;
      }
      // a line without a colon is ignored (lenient, as browsers and most proxies are)
    }
    pos = lf + 1;
  }
  if (id !== H_NONE) commitHeader(buf, text, base, id, ns, ne, vs, ve, folded, f, fr, list);
}

function commitHeader(
  buf: Buffer, text: string, base: number, id: number, ns: number, ne: number, vs: number, ve: number,
  folded: string | undefined, f: HeadFields, fr: FramingScratch, list: HeaderList | undefined,
): void {
  if (list !== undefined) list.push([text.slice(ns - base, ne - base), folded ?? text.slice(vs - base, ve - base)]);
  switch (id) {
    case H_HOST:
      f.host = folded ?? text.slice(vs - base, ve - base);
      break;
    case H_UA:
      f.userAgent = folded ?? text.slice(vs - base, ve - base);
      break;
    case H_CTYPE:
      f.contentType = folded ?? text.slice(vs - base, ve - base);
      break;
    case H_CLEN: {
      const value = folded ?? text.slice(vs - base, ve - base);
      if (f.clText === undefined) f.clText = value;
      let n = folded === undefined ? digitsValue(buf, vs, ve) : -1;
      if (n < 0) n = parseContentLength(value);
      if (n < 0 || (f.contentLength !== undefined && f.contentLength !== n)) {
        fr.clInvalid = true;
        f.contentLength = undefined;
      } else if (!fr.clInvalid) f.contentLength = n;
      break;
    }
    case H_TE: {
      const codings = (folded ?? text.slice(vs - base, ve - base)).toLowerCase().split(',');
      const last = codings[codings.length - 1].trim();
      f.chunked = last === 'chunked';
      fr.teOther = !f.chunked;
      break;
    }
  }
}

/** The header list of a head, built on first read from the head's text (the same scan as at parse time). */
function headerList(text: string, at: number, complete: boolean): HeaderList {
  const list: HeaderList = [];
  if (at >= 0) {
    const b = Buffer.from(text, 'latin1');
    scanHeaders(b, at, b.length, complete, text, 0, { chunked: false }, { teOther: false, clInvalid: false }, list);
  }
  return list;
}

/**
 * A parsed request head. `headers` is materialised on first read: the sinks need only the named fields, and
 * building two strings per header for every message was the parser's main cost. JSON.stringify gives the same
 * object as a plain head (toJSON); the private fields are invisible to Object.keys and deep equality.
 */
export class ParsedRequestHead implements HttpRequestHead {
  declare host?: string;
  declare userAgent?: string;
  declare contentLength?: number;
  declare contentType?: string;
  readonly #text: string;
  /** offset in #text of the first header line, -1 when there is none */
  readonly #at: number;
  readonly #complete: boolean;
  #headers: HeaderList | undefined = undefined;

  constructor(
    public tsUs: number,
    public method: string,
    public uri: string,
    public version: string,
    public chunked: boolean,
    public headLen: number,
    text: string,
    at: number,
    complete: boolean,
  ) {
    this.#text = text;
    this.#at = at;
    this.#complete = complete;
  }

  get headers(): HeaderList {
    return (this.#headers ??= headerList(this.#text, this.#at, this.#complete));
  }
  set headers(h: HeaderList) {
    this.#headers = h;
  }

  toJSON(): HttpRequestHead {
    const o: HttpRequestHead = {
      tsUs: this.tsUs, method: this.method, uri: this.uri, version: this.version, headers: this.headers,
      chunked: this.chunked, headLen: this.headLen,
    };
    if (this.host !== undefined) o.host = this.host;
    if (this.userAgent !== undefined) o.userAgent = this.userAgent;
    if (this.contentLength !== undefined) o.contentLength = this.contentLength;
    if (this.contentType !== undefined) o.contentType = this.contentType;
    return o;
  }
}

/** A parsed response head; see ParsedRequestHead. */
export class ParsedResponseHead implements HttpResponseHead {
  declare contentLength?: number;
  declare contentType?: string;
  readonly #text: string;
  readonly #at: number;
  readonly #complete: boolean;
  readonly #clText: string | undefined;
  #headers: HeaderList | undefined = undefined;

  constructor(
    public tsUs: number,
    public version: string,
    public status: number,
    public reason: string,
    public chunked: boolean,
    public headLen: number,
    text: string,
    at: number,
    complete: boolean,
    clText: string | undefined,
  ) {
    this.#text = text;
    this.#at = at;
    this.#complete = complete;
    this.#clText = clText;
  }

  get headers(): HeaderList {
    return (this.#headers ??= headerList(this.#text, this.#at, this.#complete));
  }
  set headers(h: HeaderList) {
    this.#headers = h;
  }

  /** The first Content-Length header's value as sent (trimmed), '' when there is none; undefined once `headers` was replaced. */
  get contentLengthText(): string | undefined {
    return this.#headers === undefined ? (this.#clText ?? '').trim() : undefined;
  }

  toJSON(): HttpResponseHead {
    const o: HttpResponseHead = {
      tsUs: this.tsUs, version: this.version, status: this.status, reason: this.reason, headers: this.headers,
      chunked: this.chunked, headLen: this.headLen,
    };
    if (this.contentLength !== undefined) o.contentLength = this.contentLength;
    if (this.contentType !== undefined) o.contentType = this.contentType;
    return o;
  }
}

/**
 * The first Content-Length header's value as sent, trimmed ('' when there is none): what a log line shows when the
 * value is not a number. Reads the parser's note when it can, so that no header list is built for it.
 */
export function contentLengthText(h: HttpResponseHead): string {
  if (h instanceof ParsedResponseHead) {
    const t = h.contentLengthText;
    if (t !== undefined) return t;
  }
  for (const [name, value] of h.headers) {
    if (name.length === 14 && name.toLowerCase() === 'content-length') return value.trim();
  }
  return '';
}

function matchVersion(buf: Buffer, s: number, e: number): boolean {
  return (
    e - s === 8 && buf[s] === 0x48 && buf[s + 1] === 0x54 && buf[s + 2] === 0x54 && buf[s + 3] === 0x50 &&
    buf[s + 4] === 0x2f && isDigit(buf[s + 5]) && buf[s + 6] === 0x2e && isDigit(buf[s + 7])
  );
}

/** The version at buf[s..s+8) (matchVersion said yes), without an allocation for the two common ones. */
function versionText(buf: Buffer, s: number, text: string, base: number): string {
  if (buf[s + 5] === 49) {
    if (buf[s + 7] === 49) return 'HTTP/1.1';
    if (buf[s + 7] === 48) return 'HTTP/1.0';
  }
  return text.slice(s - base, s + 8 - base);
}

/**
 * Parse a request head in buf[s..e). `complete`: e is the end of the head (after the blank line). Otherwise the
 * buffer holds only the head's beginning: complete header lines are used, a cut one is left out; a cut request
 * line yields the captured part of the target and version ''. Returns undefined when it is not a request line.
 */
export function parseRequestHead(buf: Buffer, s: number, e: number, tsUs: number, complete = true): HttpRequestHead | undefined {
  framing.teOther = false;
  framing.clInvalid = false;
  let lf = buf.indexOf(LF, s);
  if (lf >= e) lf = -1;
  if (lf < 0 && complete) return undefined;
  const lineEnd = lf < 0 ? trimEnd(buf, s, e) : lf > s && buf[lf - 1] === CR ? lf - 1 : lf;
  let i = s;
  while (i < lineEnd && TCHAR[buf[i]] === 1) i++;
  if (i === s || i - s > MAX_METHOD || i >= lineEnd || buf[i] !== SP) return undefined;
  let ts = i + 1;
  while (ts < lineEnd && buf[ts] === SP) ts++;
  // version is after the last space
  let sp = lineEnd - 1;
  while (sp >= ts && buf[sp] !== SP) sp--;
  let us: number, ue: number;
  let vs = -1;
  if (sp >= ts && matchVersion(buf, sp + 1, lineEnd)) {
    ue = sp;
    while (ue > ts && buf[ue - 1] === SP) ue--;
    if (ue === ts) return undefined;
    us = ts;
    vs = sp + 1;
  } else if (lf < 0) {
    // request line cut: keep what was captured of the target
    if (lineEnd === ts) return undefined;
    ue = ts;
    while (ue < lineEnd && buf[ue] !== SP) ue++;
    us = ts;
  } else return undefined;
  const text = latin1(buf, s, e);
  const method = i - s === 3 && buf[s] === 0x47 && buf[s + 1] === 0x45 && buf[s + 2] === 0x54 ? 'GET' : text.slice(0, i - s);
  const uri = text.slice(us - s, ue - s);
  const version = vs < 0 ? '' : versionText(buf, vs, text, s);
  const f = resetFields();
  if (lf >= 0) scanHeaders(buf, lf + 1, e, complete, text, s, f, framing, undefined);
  const head = new ParsedRequestHead(tsUs, method, uri, version, f.chunked, e - s, text, lf >= 0 ? lf + 1 - s : -1, complete);
  if (f.host !== undefined) head.host = f.host;
  if (f.userAgent !== undefined) head.userAgent = f.userAgent;
  if (f.contentLength !== undefined) head.contentLength = f.contentLength;
  if (f.contentType !== undefined) head.contentType = f.contentType;
  return head;
}

/** Parse a response head in buf[s..e); see parseRequestHead for `complete`. A cut reason is left empty. */
export function parseResponseHead(buf: Buffer, s: number, e: number, tsUs: number, complete = true): HttpResponseHead | undefined {
  framing.teOther = false;
  framing.clInvalid = false;
  let lf = buf.indexOf(LF, s);
  if (lf >= e) lf = -1;
  if (lf < 0 && complete) return undefined;
  const lineEnd = lf < 0 ? e : lf > s && buf[lf - 1] === CR ? lf - 1 : lf;
  if (lineEnd - s < 12 || !matchVersion(buf, s, s + 8) || buf[s + 8] !== SP) return undefined;
  const d0 = buf[s + 9], d1 = buf[s + 10], d2 = buf[s + 11];
  if (!isDigit(d0) || !isDigit(d1) || !isDigit(d2)) return undefined;
  if (lineEnd > s + 12 && buf[s + 12] !== SP) return undefined;
  const status = (d0 - 48) * 100 + (d1 - 48) * 10 + (d2 - 48);
  const text = latin1(buf, s, e);
  let reason = '';
  if (lf >= 0 && lineEnd > s + 13) {
    const re = trimEnd(buf, s + 13, lineEnd);
    reason = re - s === 15 && buf[s + 13] === 0x4f && buf[s + 14] === 0x4b ? 'OK' : text.slice(13, re - s);
  }
  const f = resetFields();
  if (lf >= 0) scanHeaders(buf, lf + 1, e, complete, text, s, f, framing, undefined);
  const head = new ParsedResponseHead(
    tsUs, versionText(buf, s, text, s), status, reason, f.chunked, e - s, text, lf >= 0 ? lf + 1 - s : -1, complete, f.clText,
  );
  if (f.contentLength !== undefined) head.contentLength = f.contentLength;
  if (f.contentType !== undefined) head.contentType = f.contentType;
  return head;
}

/** Body framing of a message. */
export const BODY_NONE = 0;
export const BODY_LENGTH = 1;
export const BODY_CHUNKED = 2;
export const BODY_UNTIL_CLOSE = 3;
/** the connection stops being HTTP after this message (101 Switching Protocols, 2xx to CONNECT) */
export const BODY_TUNNEL = 4;
export type BodyMode = 0 | 1 | 2 | 3 | 4;

/**
 * How a request body is framed (RFC 9112 6.3). Must be called right after parseRequestHead (reads its framing
 * scratch). A request never reads until close; an unusable framing is reported as -1.
 */
export function requestBodyMode(h: HttpRequestHead): BodyMode | -1 {
  if (h.chunked) return BODY_CHUNKED;
  if (framing.teOther || framing.clInvalid) return -1;
  return h.contentLength !== undefined && h.contentLength > 0 ? BODY_LENGTH : BODY_NONE;
}

/** How a response body is framed, given the method of the request it answers (if known). */
export function responseBodyMode(h: HttpResponseHead, method: string | undefined): BodyMode {
  const st = h.status;
  if (st === 101) return BODY_TUNNEL;
  if (st < 200 || st === 204 || st === 304 || method === 'HEAD') return BODY_NONE;
  if (method === 'CONNECT' && st < 300) return BODY_TUNNEL;
  if (h.chunked) return BODY_CHUNKED;
  if (h.contentLength !== undefined && !framing.teOther && !framing.clInvalid) return h.contentLength > 0 ? BODY_LENGTH : BODY_NONE;
  return BODY_UNTIL_CLOSE;
}

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
