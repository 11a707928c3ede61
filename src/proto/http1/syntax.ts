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
