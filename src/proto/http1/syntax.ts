/** Byte classes and small helpers shared by the HTTP/1.x sniffer, head parser and stream parser. */
export const CR = 13;
export const LF = 10;
export const SP = 32;
export const HT = 9;

/** RFC 9110 tchar */
export const TCHAR = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const ch = String.fromCharCode(c);
  TCHAR[c] = /[A-Za-z0-9!#$%&'*+\-.^_`|~]/.test(ch) ? 1 : 0;
}
export const isDigit = (b: number): boolean => b >= 48 && b <= 57;
interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}
/**
 * buf[s..e) as a string, one char per byte (RFC 9110: field values are octets; obs-text survives).
 * Buffer#latin1Slice is the native call behind toString('latin1', s, e) without its argument and encoding checks
 * (half the cost per call); it throws where toString clamps, so an end past the buffer takes toString.
 */
export const latin1 = (buf: Buffer, s: number, e: number): string =>
  e <= buf.length ? (buf as unknown as Latin1Slicer).latin1Slice(s, e) : buf.toString('latin1', s, e);

/** Methods common enough to trust a request line whose end is not in the segment. */
export const KNOWN_METHODS = new Set([
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'PROPFIND', 'PROPPATCH',
  'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'REPORT', 'SEARCH', 'PURGE',
]);

/**
 * The IANA HTTP Method Registry (RFC 9110 and the WebDAV family among them): a method outside it, or in another
 * case (methods are case-sensitive), is logged as sent and flagged `unknown-method`.
 */
export const REGISTERED_METHODS = new Set([
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'PRI',
  'ACL', 'BASELINE-CONTROL', 'BIND', 'CHECKIN', 'CHECKOUT', 'COPY', 'LABEL', 'LINK', 'LOCK', 'MERGE', 'MKACTIVITY',
  'MKCALENDAR', 'MKCOL', 'MKREDIRECTREF', 'MKWORKSPACE', 'MOVE', 'ORDERPATCH', 'PROPFIND', 'PROPPATCH', 'REBIND',
  'REPORT', 'SEARCH', 'UNBIND', 'UNCHECKOUT', 'UNLINK', 'UNLOCK', 'UPDATE', 'UPDATEREDIRECTREF', 'VERSION-CONTROL',
]);

/** ASCII lower case of a byte (no other Latin-1 byte lowercases to ASCII, so name matching stays exact). */
export const LOWER = new Uint8Array(256);
for (let c = 0; c < 256; c++) LOWER[c] = c >= 65 && c <= 90 ? c + 32 : c;

/** SP or HT: the whitespace the start line's tokens may be separated by (RFC 9112 3: SP; servers also take HT). */
export const isBlank = (b: number): boolean => b === SP || b === HT;

/** Does buf[s..) begin with "HTTP/" in any case? (RFC 9112 says upper case; clients and tshark take any.) */
export function isHttpSlash(buf: Buffer, s: number, e: number): boolean {
  return e - s >= 5 && LOWER[buf[s]!] === 0x68 && LOWER[buf[s + 1]!] === 0x74 && LOWER[buf[s + 2]!] === 0x74 &&
    LOWER[buf[s + 3]!] === 0x70 && buf[s + 4] === 0x2f;
}

/** Is buf[s..e) exactly "HTTP/DIGIT.DIGIT"? */
export function isExactVersion(buf: Buffer, s: number, e: number): boolean {
  return e - s === 8 && buf[s] === 0x48 && buf[s + 1] === 0x54 && buf[s + 2] === 0x54 && buf[s + 3] === 0x50 &&
    buf[s + 4] === 0x2f && isDigit(buf[s + 5]!) && buf[s + 6] === 0x2e && isDigit(buf[s + 7]!);
}

/** Longest version token taken ("HTTP/" and at most this many more bytes): longer is not a version. */
export const MAX_VERSION_TAIL = 16;
