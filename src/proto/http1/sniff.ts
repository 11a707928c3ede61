/** Does a buffer begin an HTTP/1.x message? Start-line checks that stay cheap on bytes that are not HTTP. */
import { CR, HT, KNOWN_METHODS, LF, SP, TCHAR, isDigit, latin1 } from './syntax.js';

export const HTTP_START_NONE = 0;
export const HTTP_START_REQUEST = 1;
export const HTTP_START_RESPONSE = 2;
export type HttpStartKind = 0 | 1 | 2;

/** Role of a direction: which kind of message it carries (0 = not known yet, decided by its first start line). */
export type Http1Role = 0 | 1 | 2;

// startLineState results: kind bits plus COMPLETE when the whole line was seen and is valid
export const SL_NO = 0;
export const SL_COMPLETE = 4;
export const MAX_METHOD = 32;

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

