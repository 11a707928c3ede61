/**
 * Does a buffer begin an HTTP/1.x message? Start-line checks, lenient as servers are (docs/http1.md: several blanks
 * between tokens, bare LF, any-case "HTTP/", odd versions, a request line without a target, HTTP/0.9 simple
 * requests), that stay cheap on bytes that are not HTTP: the first byte that cannot belong to a start line ends the
 * check, and the cost is bounded by the line's length.
 */
import {
  CR, KNOWN_METHODS, LF, MAX_VERSION_TAIL, SP, TCHAR, isBlank, isDigit, isHttpSlash, latin1, LOWER,
} from './syntax.js';

export const HTTP_START_NONE = 0;
export const HTTP_START_REQUEST = 1;
export const HTTP_START_RESPONSE = 2;
export type HttpStartKind = 0 | 1 | 2;

/** Role of a direction: which kind of message it carries (0 = not known yet, decided by its first start line). */
export type Http1Role = 0 | 1 | 2;

// startLineState results: the kind (1 request, 2 response), plus COMPLETE when the whole line was seen and is a
// start line, plus SIMPLE when it is an HTTP/0.9 simple request (`GET /path`, no version: the message is that line)
export const SL_NO = 0;
export const SL_COMPLETE = 4;
export const SL_SIMPLE = 8;
export const MAX_METHOD = 32;

const isCtl = (b: number): boolean => (b < 32 && b !== 9) || b === 127;

/**
 * Where the line at buf[i] ends: the index after its LF when buf[i] is LF or CR LF, -1 when the line goes on,
 * -2 when the buffer ends before that can be told, -3 for a CR not followed by LF.
 */
function eolAt(buf: Buffer, i: number, e: number): number {
  const b = buf[i];
  if (b === LF) return i + 1;
  if (b !== CR) return -1;
  if (i + 1 >= e) return -2;
  return buf[i + 1] === LF ? i + 2 : -3;
}

/**
 * Validate the start line at buf[s..e) as far as it goes. Returns SL_NO when it cannot be an HTTP/1.x start line,
 * else the kind (1 request, 2 response), plus SL_COMPLETE when the line is complete (LF seen) and SL_SIMPLE for an
 * HTTP/0.9 request (only with `allowSimple`). `role` restricts the kind.
 */
export function startLineState(buf: Buffer, s: number, e: number, role: Http1Role = 0, allowSimple = true): number {
  if (s >= e) return role === 0 ? HTTP_START_REQUEST : role; // nothing yet: anything is possible
  let resp: boolean;
  if (role === 2) resp = true;
  else if (role === 1) resp = false;
  else resp = LOWER[buf[s]!] === 0x68 && (s + 1 >= e || LOWER[buf[s + 1]!] === 0x74); // "HT" (HEAD differs at the 2nd byte)
  return resp ? statusLineState(buf, s, e) : requestLineState(buf, s, e, allowSimple);
}

function statusLineState(buf: Buffer, s: number, e: number): number {
  const INCOMPLETE = HTTP_START_RESPONSE;
  // "HTTP/" in any case, then the rest of the version token
  const pat = 'http/';
  let i = s;
  for (let j = 0; j < 5; j++, i++) {
    if (i >= e) return INCOMPLETE;
    if (LOWER[buf[i]!] !== pat.charCodeAt(j)) return SL_NO;
  }
  const vs = i;
  while (i < e && buf[i]! > 32 && buf[i] !== 127) i++;
  if (i - vs > MAX_VERSION_TAIL) return SL_NO;
  if (i >= e) return INCOMPLETE;
  if (!isBlank(buf[i]!)) return SL_NO;
  while (i < e && isBlank(buf[i]!)) i++;
  for (let j = 0; j < 3; j++, i++) {
    if (i >= e) return INCOMPLETE;
    if (!isDigit(buf[i]!)) return SL_NO;
  }
  if (i >= e) return INCOMPLETE;
  let eol = eolAt(buf, i, e);
  if (eol >= 0) return HTTP_START_RESPONSE | SL_COMPLETE;
  if (eol === -2) return INCOMPLETE;
  if (eol === -3 || !isBlank(buf[i]!)) return SL_NO;
  // reason phrase: anything but CTLs (HT allowed) up to the line end
  for (i++; i < e; i++) {
    eol = eolAt(buf, i, e);
    if (eol >= 0) return HTTP_START_RESPONSE | SL_COMPLETE;
    if (eol === -2) return INCOMPLETE;
    if (eol === -3 || isCtl(buf[i]!)) return SL_NO;
  }
  return INCOMPLETE;
}

/**
 * method, blanks, then tokens separated by blanks up to the line end: the last one a version ("HTTP/…"). One
 * token that is not a version is an HTTP/0.9 simple request (GET only, as RFC 1945 defines it); a version right
 * after the method is a request line without a target. Tokens between the first and the version are a target with
 * spaces in it (logged, flagged).
 */
function requestLineState(buf: Buffer, s: number, e: number, allowSimple: boolean): number {
  const INCOMPLETE = HTTP_START_REQUEST;
  let i = s;
  while (i < e && TCHAR[buf[i]!] === 1) i++;
  if (i - s > MAX_METHOD) return SL_NO;
  if (i >= e) return INCOMPLETE;
  if (i === s || !isBlank(buf[i]!)) return SL_NO;
  const methodEnd = i;
  let tokens = 0;
  for (;;) {
    while (i < e && isBlank(buf[i]!)) i++;
    if (i >= e) return INCOMPLETE;
    const ts = i;
    while (i < e && buf[i]! > 32 && buf[i] !== 127) i++;
    if (i >= e) return INCOMPLETE;
    if (i === ts) return SL_NO; // a CTL (or CR/LF) where a token must start
    tokens++;
    const versionLike = isHttpSlash(buf, ts, i) && i - ts - 5 <= MAX_VERSION_TAIL;
    let j = i;
    while (j < e && isBlank(buf[j]!)) j++;
    if (j >= e) return INCOMPLETE;
    const eol = eolAt(buf, j, e);
    if (eol === -2) return INCOMPLETE;
    if (eol === -3) return SL_NO;
    if (eol >= 0) {
      if (versionLike) return HTTP_START_REQUEST | SL_COMPLETE;
      if (tokens === 1 && allowSimple && methodEnd - s === 3 && buf[s] === 0x47 && buf[s + 1] === 0x45 && buf[s + 2] === 0x54) {
        return HTTP_START_REQUEST | SL_COMPLETE | SL_SIMPLE;
      }
      return SL_NO;
    }
    if (isCtl(buf[j]!) || j === i) return SL_NO;
    i = j;
  }
}

/**
 * Does buf[s..e) (one segment's payload) begin an HTTP/1.x message? 1 request line, 2 status line, 0 no.
 * A start line whose end is not in the buffer (snaplen, MSS) is accepted when what is there is valid and, for
 * a request, the method is a well-known one. First-byte rejection keeps non-HTTP segments cheap.
 */
export function looksLikeHttpStart(buf: Buffer, s = 0, e: number = buf.length): HttpStartKind {
  if (e - s < 4) return HTTP_START_NONE;
  const b0 = buf[s]! | 0x20;
  if (b0 < 0x61 || b0 > 0x7a) return HTTP_START_NONE; // methods and "HTTP/" start with a letter
  const st = startLineState(buf, s, e, 0);
  if (st === SL_NO) return HTTP_START_NONE;
  const kind = (st & 3) as HttpStartKind;
  if (st & SL_COMPLETE) return kind;
  if (kind === HTTP_START_RESPONSE) return e - s >= 12 ? kind : HTTP_START_NONE; // need "HTTP/1.1 200"
  const sp = buf.indexOf(SP, s);
  if (sp < 0 || sp >= e) return HTTP_START_NONE;
  return KNOWN_METHODS.has(latin1(buf, s, sp)) ? kind : HTTP_START_NONE;
}
