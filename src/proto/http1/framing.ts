/** How an HTTP/1.x message body is framed (RFC 9112 6.3). */
import type { HttpRequestHead, HttpResponseHead } from '../../records.js';
import { framing } from './head.js';

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

