/**
 * HTTP/1.x message heads from one buffer: the start line, header fields (names recognised from the bytes, the list
 * built lazily), and `parseRequestHead` / `parseResponseHead`, optionally on a truncated head (no-reassembly mode,
 * snaplen cuts): then only complete lines are used and a field cut mid-line is left out.
 */
import { HttpAnomaly, type HeaderList, type HttpRequestHead, type HttpResponseHead } from '../../records.js';
import {
  CR, HT, LF, LOWER, MAX_VERSION_TAIL, REGISTERED_METHODS, SP, TCHAR, isBlank, isDigit, isExactVersion, isHttpSlash,
  latin1,
} from './syntax.js';
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

const A = HttpAnomaly;

/** What parse*Head collects from the header lines, reused (copied onto the head; parsing is never re-entered). */
interface HeadFields {
  host?: string;
  userAgent?: string;
  contentType?: string;
  /** the first Content-Length header's value as sent (the text sink prints it when it is not a number) */
  clText?: string;
  /** Content-Length members seen (headers and list members), and the value of the first valid one */
  clCount: number;
  clValue: number;
  teSeen: boolean;
  /** the last transfer coding (of the last Transfer-Encoding line) is chunked */
  chunked: boolean;
  /** HttpAnomaly bits */
  bits: number;
}
const fields: HeadFields = {
  host: undefined, userAgent: undefined, contentType: undefined, clText: undefined, clCount: 0, clValue: 0,
  teSeen: false, chunked: false, bits: 0,
};
function resetFields(): HeadFields {
  const f = fields;
  f.host = f.userAgent = f.contentType = f.clText = undefined;
  f.clCount = 0;
  f.clValue = 0;
  f.teSeen = false;
  f.chunked = false;
  f.bits = 0;
  return f;
}
/** a throwaway HeadFields for re-scans that only build the header list */
const newFields = (): HeadFields => ({ clCount: 0, clValue: 0, teSeen: false, chunked: false, bits: 0 });

/** A Content-Length member: any number of digits whose value is at most 2^53-1 (leading zeros are fine); else -1. */
function clMemberValue(p: string): number {
  if (p.length === 0 || !/^[0-9]+$/.test(p)) return -1;
  const x = Number(p);
  return Number.isSafeInteger(x) ? x : -1;
}

/** Take one Content-Length member into f (RFC 9112 6.3 rule 5: differing values are unrecoverable). */
function addContentLength(f: HeadFields, n: number): void {
  if (n < 0) f.bits |= A.CL_INVALID;
  else if (f.clCount > 0 && (f.bits & A.CL_INVALID) === 0 && n !== f.clValue) f.bits |= A.CL_MISMATCH;
  else if (f.clCount > 0) f.bits |= A.CL_REPEATED;
  else f.clValue = n;
  f.clCount++;
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
// unless someone reads `headers`.
const H_NONE = -1;
const H_OTHER = 0;
const H_HOST = 1;
const H_UA = 2;
const H_CTYPE = 3;
const H_CLEN = 4;
const H_TE = 5;

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
  for (let i = 0; i < want.length; i++) if (LOWER[buf[s + i]!] !== want.charCodeAt(i)) return H_OTHER;
  return id;
}

/** A Content-Length value of 1-15 plain digits, or -1 (then the string rules of clMemberValue apply). */
function digitsValue(buf: Buffer, s: number, e: number): number {
  if (e <= s || e - s > 15) return -1;
  let n = 0;
  for (let i = s; i < e; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Header lines from buf[pos..e): stops at the blank line. With `complete` false the last line may be cut: it is
 * left out, and so is a header whose obs-fold continuation is cut. Fills `f` from the headers it needs (anomalies
 * included) and, when `list` is given, pushes every header. Strings are slices of `text`, the head's bytes from
 * buf[base] on as Latin-1 (one native call per head instead of two per header).
 */
function scanHeaders(
  buf: Buffer, pos: number, e: number, complete: boolean, text: string, base: number, f: HeadFields,
  list: HeaderList | undefined,
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
    const crlf = lf > pos && buf[lf - 1] === CR;
    if (!crlf) f.bits |= A.BARE_LF;
    const lineEnd = crlf ? lf - 1 : lf;
    if (lineEnd === pos) {
      pos = e;
      break; // blank line: end of head
    }
    const c0 = buf[pos];
    if (c0 === SP || c0 === HT) {
      // obs-fold: continuation of the previous value, joined by one space (RFC 9112 5.2)
      f.bits |= A.OBS_FOLD;
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
      if (id !== H_NONE) commitHeader(buf, text, base, id, ns, ne, vs, ve, folded, f, list);
      id = H_NONE;
      // the name's bytes are checked on the way to the colon: one pass (an indexOf first, then a check, cost twice)
      let colon = pos;
      while (TCHAR[buf[colon]!] === 1) colon++;
      if (colon >= lineEnd || buf[colon] !== 0x3a) {
        colon = buf.indexOf(0x3a, colon);
        if (colon > pos && colon < lineEnd) f.bits |= A.BAD_HEADER_NAME; // "X Bad:", "Name :", "X(y):" are taken, and flagged
      }
      if (colon > pos && colon < lineEnd) {
        ne = colon;
        while (ne > pos && (buf[ne - 1] === SP || buf[ne - 1] === HT)) ne--;
        ns = pos;
        id = nameId(buf, ns, ne);
        vs = trimStart(buf, colon + 1, lineEnd);
        ve = trimEnd(buf, vs, lineEnd);
        folded = undefined;
      } else f.bits |= colon === pos ? A.BAD_HEADER_NAME : A.HEADER_WITHOUT_COLON; // the line is ignored
    }
    pos = lf + 1;
  }
  if (id !== H_NONE) commitHeader(buf, text, base, id, ns, ne, vs, ve, folded, f, list);
}

function commitHeader(
  buf: Buffer, text: string, base: number, id: number, ns: number, ne: number, vs: number, ve: number,
  folded: string | undefined, f: HeadFields, list: HeaderList | undefined,
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
      const n = folded === undefined ? digitsValue(buf, vs, ve) : -1;
      if (n >= 0 && f.clCount === 0) {
        // the common case: one plain number
        f.clText = text.slice(vs - base, ve - base);
        f.clValue = n;
        f.clCount = 1;
        break;
      }
      const value = folded ?? text.slice(vs - base, ve - base);
      if (f.clText === undefined) f.clText = value;
      if (n >= 0) addContentLength(f, n);
      else if (value.indexOf(',') < 0) addContentLength(f, clMemberValue(value.trim()));
      else for (const part of value.split(',')) addContentLength(f, clMemberValue(part.trim()));
      break;
    }
    case H_TE: {
      // several Transfer-Encoding lines make one list: the last coding of the last line is the final one
      const codings = (folded ?? text.slice(vs - base, ve - base)).toLowerCase().split(',');
      f.teSeen = true;
      f.chunked = codings[codings.length - 1]!.trim() === 'chunked';
      break;
    }
  }
}

/** The framing facts of a head once its fields are in (RFC 9112 6.1, 6.3), as anomaly bits. */
function framingBits(f: HeadFields, http10: boolean): number {
  let bits = 0;
  if (f.teSeen) {
    if (f.clCount > 0) bits |= A.TE_AND_CL;
    if (!f.chunked) bits |= A.TE_NOT_CHUNKED_LAST;
    if (http10) bits |= A.TE_IN_HTTP10;
  }
  return bits;
}

/** The Content-Length a head is framed by: undefined when absent or unusable (invalid, differing values). */
function usableContentLength(f: HeadFields): number | undefined {
  return f.clCount === 0 || (f.bits & (A.CL_INVALID | A.CL_MISMATCH)) !== 0 ? undefined : f.clValue;
}

/** The header list of a head, built on first read from the head's text (the same scan as at parse time). */
function headerList(text: string, at: number, complete: boolean): HeaderList {
  const list: HeaderList = [];
  if (at >= 0) {
    const b = Buffer.from(text, 'latin1');
    scanHeaders(b, at, b.length, complete, text, 0, newFields(), list);
  }
  return list;
}

/**
 * The header list of a parsed head, materialised on first read: the sinks need only the named fields, and building
 * two strings per header for every message was the parser's main cost. The private fields are invisible to
 * Object.keys and deep equality; toJSON (in the heads) gives the same object as a plain head.
 */
abstract class LazyHeaderList {
  readonly #text: string;
  /** offset in #text of the first header line, -1 when there is none */
  readonly #at: number;
  readonly #complete: boolean;
  #headers: HeaderList | undefined = undefined;

  constructor(text: string, at: number, complete: boolean) {
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

  /** the list was read or replaced: from then on it, not the parser's notes, is what the head says */
  protected get listTaken(): boolean {
    return this.#headers !== undefined;
  }
}

/** A parsed request head (see LazyHeaderList). */
export class ParsedRequestHead extends LazyHeaderList implements HttpRequestHead {
  declare streamOffset?: number;
  declare seq?: number;
  declare host?: string;
  declare userAgent?: string;
  declare contentLength?: number;
  declare contentType?: string;

  constructor(
    public tsUs: number,
    public method: string,
    public uri: string | null,
    public version: string,
    public chunked: boolean,
    public headLen: number,
    public anomalies: number,
    text: string,
    at: number,
    complete: boolean,
  ) {
    super(text, at, complete);
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
    if (this.anomalies !== 0) o.anomalies = this.anomalies;
    return o;
  }
}

/** A parsed response head (see LazyHeaderList). */
export class ParsedResponseHead extends LazyHeaderList implements HttpResponseHead {
  declare streamOffset?: number;
  declare seq?: number;
  declare contentLength?: number;
  declare contentType?: string;
  readonly #clText: string | undefined;

  constructor(
    public tsUs: number,
    public version: string,
    public status: number,
    public reason: string,
    public chunked: boolean,
    public headLen: number,
    public anomalies: number,
    text: string,
    at: number,
    complete: boolean,
    clText: string | undefined,
  ) {
    super(text, at, complete);
    this.#clText = clText;
  }

  /** The first Content-Length header's value as sent (trimmed), '' when there is none; undefined once `headers` was replaced. */
  get contentLengthText(): string | undefined {
    return this.listTaken ? undefined : (this.#clText ?? '').trim();
  }

  toJSON(): HttpResponseHead {
    const o: HttpResponseHead = {
      tsUs: this.tsUs, version: this.version, status: this.status, reason: this.reason, headers: this.headers,
      chunked: this.chunked, headLen: this.headLen,
    };
    if (this.contentLength !== undefined) o.contentLength = this.contentLength;
    if (this.contentType !== undefined) o.contentType = this.contentType;
    if (this.anomalies !== 0) o.anomalies = this.anomalies;
    return o;
  }
}

/** The answer to an HTTP/0.9 simple request: no status line, no headers, a body until the server closes. */
export function simpleResponseHead(tsUs: number): ParsedResponseHead {
  return new ParsedResponseHead(tsUs, 'HTTP/0.9', 0, '', false, 0, 0, '', -1, true, undefined);
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

/** The version token at buf[s..e), without an allocation for the two common ones. */
function versionText(buf: Buffer, s: number, e: number, text: string, base: number): string {
  if (e - s === 8 && buf[s] === 0x48 && buf[s + 5] === 49 && buf[s + 6] === 0x2e && buf[s + 4] === 0x2f) {
    if (buf[s + 7] === 49 && buf[s + 1] === 0x54 && buf[s + 2] === 0x54 && buf[s + 3] === 0x50) return 'HTTP/1.1';
    if (buf[s + 7] === 48 && buf[s + 1] === 0x54 && buf[s + 2] === 0x54 && buf[s + 3] === 0x50) return 'HTTP/1.0';
  }
  return text.slice(s - base, e - base);
}

/** Where the first line of buf[s..e) ends: its LF, or -1 (none before e). */
function firstLf(buf: Buffer, s: number, e: number): number {
  const lf = buf.indexOf(LF, s);
  return lf >= e ? -1 : lf;
}

/**
 * Parse a request head in buf[s..e). `complete`: e is the end of the head (after the blank line). Otherwise the
 * buffer holds only the head's beginning: complete header lines are used, a cut one is left out; a cut request
 * line yields the captured part of the target and version ''. Returns undefined when it is not a request line.
 *
 * Lenient as servers are (docs/http1.md), with each leniency flagged in `anomalies`. An HTTP/0.9 simple request
 * (`GET /path`, no version) is the request line alone: its `headLen` is that line's length, whatever follows.
 */
export function parseRequestHead(buf: Buffer, s: number, e: number, tsUs: number, complete = true): HttpRequestHead | undefined {
  const lf = firstLf(buf, s, e);
  if (lf < 0 && complete) return undefined;
  let bits = 0;
  let lineEnd: number;
  if (lf < 0) lineEnd = trimEnd(buf, s, e);
  else if (lf > s && buf[lf - 1] === CR) lineEnd = lf - 1;
  else {
    lineEnd = lf;
    bits |= A.BARE_LF;
  }
  // method
  let i = s;
  while (i < lineEnd && TCHAR[buf[i]!] === 1) i++;
  if (i === s || i - s > MAX_METHOD || i >= lineEnd || !isBlank(buf[i]!)) return undefined;
  const methodEnd = i;
  let us = -1, ue = -1, vs = -1, versionEnd = -1;
  let simple = false;
  const v = lineEnd - 8; // where an exact version would start
  if (lf >= 0 && v - 2 > i && buf[i] === SP && buf[i + 1] !== SP && buf[i + 1] !== HT && buf[v - 1] === SP &&
    buf[v - 2] !== SP && buf[v - 2] !== HT && isExactVersion(buf, v, lineEnd)) {
    // the common form, METHOD SP target SP HTTP/d.d: nothing to flag in the line's layout
    us = i + 1;
    ue = v - 1;
    vs = v;
    versionEnd = lineEnd;
  } else {
    let j = i + 1;
    while (j < lineEnd && isBlank(buf[j]!)) j++;
    if (j - i > 1 || buf[i] === HT) bits |= A.EXTRA_WHITESPACE;
    if (j >= lineEnd) return undefined; // nothing after the method
    // the last token, after trailing blanks
    let le = lineEnd;
    while (le > j && isBlank(buf[le - 1]!)) le--;
    if (le < lineEnd && lf >= 0) bits |= A.EXTRA_WHITESPACE;
    vs = le;
    while (vs > j && !isBlank(buf[vs - 1]!)) vs--;
    if (isHttpSlash(buf, vs, le) && le - vs - 5 <= MAX_VERSION_TAIL) {
      versionEnd = le;
      if (vs === j) bits |= A.NO_TARGET;
      else {
        us = j;
        ue = vs - 1;
        while (ue > us && isBlank(buf[ue - 1]!)) ue--;
        if (vs - ue > 1 || buf[ue] === HT) bits |= A.EXTRA_WHITESPACE;
      }
      if (!isExactVersion(buf, vs, le)) bits |= A.BAD_VERSION;
    } else if (lf < 0) {
      // request line cut: keep what was captured of the target
      us = j;
      ue = j;
      while (ue < lineEnd && !isBlank(buf[ue]!)) ue++;
    } else if (vs === j && methodEnd - s === 3 && buf[s] === 0x47 && buf[s + 1] === 0x45 && buf[s + 2] === 0x54) {
      simple = true; // HTTP/0.9: GET and a target, nothing else
      us = j;
      ue = le;
    } else return undefined;
  }
  // the target: no control characters (servers refuse them); blanks inside it are taken and flagged
  for (let k = us; k < ue; k++) {
    const b = buf[k]!;
    if (b <= 32 || b === 127) {
      if (b !== SP && b !== HT) return undefined;
      bits |= A.SPACE_IN_TARGET;
    }
  }
  const headEnd = simple ? lf + 1 : e;
  const text = latin1(buf, s, headEnd);
  const method = methodEnd - s === 3 && buf[s] === 0x47 && buf[s + 1] === 0x45 && buf[s + 2] === 0x54 ? 'GET' : text.slice(0, methodEnd - s);
  if (method !== 'GET' && !REGISTERED_METHODS.has(method)) bits |= A.UNKNOWN_METHOD;
  const uri = us < 0 ? null : text.slice(us - s, ue - s);
  const version = simple ? 'HTTP/0.9' : versionEnd < 0 ? '' : versionText(buf, vs, versionEnd, text, s);
  const f = resetFields();
  if (lf >= 0 && !simple) scanHeaders(buf, lf + 1, e, complete, text, s, f, undefined);
  bits |= f.bits | framingBits(f, version === 'HTTP/1.0');
  const head = new ParsedRequestHead(
    tsUs, method, uri, version, f.chunked, headEnd - s, bits, text, lf >= 0 && !simple ? lf + 1 - s : -1, complete,
  );
  if (f.host !== undefined) head.host = f.host;
  if (f.userAgent !== undefined) head.userAgent = f.userAgent;
  const cl = usableContentLength(f);
  if (cl !== undefined) head.contentLength = cl;
  if (f.contentType !== undefined) head.contentType = f.contentType;
  return head;
}

/**
 * Parse a response head in buf[s..e); see parseRequestHead for `complete`. A cut reason is left empty. Lenient:
 * "HTTP/" in any case, any version token, several blanks between the tokens (each flagged).
 */
export function parseResponseHead(buf: Buffer, s: number, e: number, tsUs: number, complete = true): HttpResponseHead | undefined {
  const lf = firstLf(buf, s, e);
  if (lf < 0 && complete) return undefined;
  let bits = 0;
  let lineEnd: number;
  if (lf < 0) lineEnd = e;
  else if (lf > s && buf[lf - 1] === CR) lineEnd = lf - 1;
  else {
    lineEnd = lf;
    bits |= A.BARE_LF;
  }
  let versionEnd: number, j: number;
  if (lineEnd - s >= 12 && buf[s + 8] === SP && isExactVersion(buf, s, s + 8) && buf[s + 9] !== SP && buf[s + 9] !== HT) {
    // the common form, HTTP/d.d SP status
    versionEnd = s + 8;
    j = s + 9;
  } else {
    if (!isHttpSlash(buf, s, lineEnd)) return undefined;
    let i = s + 5;
    while (i < lineEnd && buf[i]! > 32 && buf[i] !== 127) i++;
    versionEnd = i;
    if (versionEnd - s - 5 > MAX_VERSION_TAIL || i >= lineEnd || !isBlank(buf[i]!)) return undefined;
    j = i + 1;
    while (j < lineEnd && isBlank(buf[j]!)) j++;
    if (j - i > 1 || buf[i] === HT) bits |= A.EXTRA_WHITESPACE;
    if (!isExactVersion(buf, s, versionEnd)) bits |= A.BAD_VERSION;
  }
  if (lineEnd - j < 3) return undefined;
  const d0 = buf[j]!, d1 = buf[j + 1]!, d2 = buf[j + 2]!;
  if (!isDigit(d0) || !isDigit(d1) || !isDigit(d2)) return undefined;
  const afterStatus = j + 3;
  if (afterStatus < lineEnd && !isBlank(buf[afterStatus]!)) return undefined;
  const status = (d0 - 48) * 100 + (d1 - 48) * 10 + (d2 - 48);
  const text = latin1(buf, s, e);
  let reason = '';
  if (lf >= 0 && afterStatus + 1 < lineEnd) {
    const rs = afterStatus + 1;
    const re = trimEnd(buf, rs, lineEnd);
    if (re > rs && isBlank(buf[rs]!)) bits |= A.EXTRA_WHITESPACE;
    reason = re - rs === 2 && buf[rs] === 0x4f && buf[rs + 1] === 0x4b ? 'OK' : text.slice(trimStart(buf, rs, re) - s, re - s);
  }
  const f = resetFields();
  if (lf >= 0) scanHeaders(buf, lf + 1, e, complete, text, s, f, undefined);
  const version = versionText(buf, s, versionEnd, text, s);
  bits |= f.bits | framingBits(f, version === 'HTTP/1.0');
  const head = new ParsedResponseHead(
    tsUs, version, status, reason, f.chunked, e - s, bits, text, lf >= 0 ? lf + 1 - s : -1, complete, f.clText,
  );
  const cl = usableContentLength(f);
  if (cl !== undefined) head.contentLength = cl;
  if (f.contentType !== undefined) head.contentType = f.contentType;
  return head;
}
