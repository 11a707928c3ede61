/**
 * HTTP/1.x message heads from one buffer: the start line, header fields (names recognised from the bytes, the list
 * built lazily), and `parseRequestHead` / `parseResponseHead`, optionally on a truncated head (no-reassembly mode,
 * snaplen cuts): then only complete lines are used and a field cut mid-line is left out.
 */
import type { HeaderList, HttpRequestHead, HttpResponseHead } from '../../records.js';
import { CR, HT, LF, SP, TCHAR, isDigit, latin1 } from './syntax.js';
import { MAX_METHOD } from './sniff.js';

/**
 * Find the end of a head (the byte after the blank line) in buf[s..e), or return a negative number
 * -(1 + state) where state carries a line end across chunks: 1 = buffer ended just after LF, 2 = after LF CR.
 */
export function scanHeadEnd(buf: Buffer, s: number, e: number, eol: number): number {
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
export const framing: FramingScratch = { teOther: false, clInvalid: false };

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

