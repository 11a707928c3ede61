/** How an HTTP/1.x message body is framed (RFC 9112 6.3), from the facts its head carries. */
import { HttpAnomaly, type HttpRequestHead, type HttpResponseHead } from '../../records.js';

/** Body framing of a message. */
export const BODY_NONE = 0;
export const BODY_LENGTH = 1;
export const BODY_CHUNKED = 2;
export const BODY_UNTIL_CLOSE = 3;
/** the connection stops being HTTP after this message (101 Switching Protocols, 2xx to CONNECT) */
export const BODY_TUNNEL = 4;
/** a request whose body length cannot be determined (RFC 9112 6.3 rules 4 and 5): servers answer 400 and close */
export const BODY_UNFRAMEABLE = -1;
export type BodyMode = -1 | 0 | 1 | 2 | 3 | 4;

/** Content-Length present but not usable: not a number, or differing values (rule 5) */
const CL_UNUSABLE = HttpAnomaly.CL_INVALID | HttpAnomaly.CL_MISMATCH;

/**
 * How a request body is framed. Transfer-Encoding with chunked last wins over Content-Length (rule 3); any other
 * Transfer-Encoding (rule 4) or an unusable Content-Length (rule 5) leaves the length unknown. A request never
 * reads until close.
 */
export function requestBodyMode(h: HttpRequestHead): BodyMode {
  if (h.chunked) return BODY_CHUNKED;
  const a = h.anomalies ?? 0;
  if ((a & HttpAnomaly.TE_NOT_CHUNKED_LAST) !== 0 || (a & CL_UNUSABLE) !== 0) return BODY_UNFRAMEABLE;
  return h.contentLength !== undefined && h.contentLength > 0 ? BODY_LENGTH : BODY_NONE;
}

/**
 * How a response body is framed, given the method of the request it answers (if known). A Transfer-Encoding
 * without chunked last, or an unusable Content-Length, means reading until the server closes.
 */
export function responseBodyMode(h: HttpResponseHead, method: string | undefined): BodyMode {
  const st = h.status;
  if (st === 101) return BODY_TUNNEL;
  if (st === 0) return BODY_UNTIL_CLOSE; // HTTP/0.9: no head, the body is everything until close
  if (st < 200 || st === 204 || st === 304 || method === 'HEAD') return BODY_NONE;
  if (method === 'CONNECT' && st < 300) return BODY_TUNNEL;
  if (h.chunked) return BODY_CHUNKED;
  const a = h.anomalies ?? 0;
  if (h.contentLength !== undefined && (a & HttpAnomaly.TE_NOT_CHUNKED_LAST) === 0 && (a & CL_UNUSABLE) === 0) {
    return h.contentLength > 0 ? BODY_LENGTH : BODY_NONE;
  }
  return BODY_UNTIL_CLOSE;
}
