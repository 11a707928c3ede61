/**
 * What `wirelog trace` (correlate/trace/) and `wirelog capture` (correlate/h2-capture.ts) share about HTTP/2 on top
 * of the frame parser: the header list of a decoded block without its pseudo-headers, and the h2c upgrade
 * (RFC 9113 3.2 / RFC 7540 3.2): the HTTP/1.1 request that asks for it, the 101 that accepts it, and the request's
 * HTTP2-Settings applied to the client-side parser.
 */
import type { HeaderList } from '../records.js';
import type { Http2Headers, Http2Parser } from '../proto/http2.js';

/** Header fields other than the pseudo-headers, in order; a field whose name HPACK could not know (mid-stream, or
 *  after a lost block) is kept as `:missing-N`: never invented, never dropped. */
export function h2HeaderList(h: Http2Headers): HeaderList {
  const out: HeaderList = [];
  for (const f of h.fields) {
    const n = f.name;
    if (n === undefined) out.push([`:missing-${f.missingIndex ?? 0}`, f.value ?? '']);
    else if (n.charCodeAt(0) !== 58) out.push([n, f.value ?? '']);
  }
  return out;
}

/** Does a header `name` (lower-case) list the token (lower-case) in its comma-separated value? */
export function hasToken(headers: HeaderList, name: string, token: string): boolean {
  for (const [n, v] of headers) {
    if (n.length !== name.length || n.toLowerCase() !== name) continue;
    for (const x of v.split(',')) if (x.trim().toLowerCase() === token) return true;
  }
  return false;
}

const isSettingsHeader = (n: string): boolean => n.length === 14 && n.toLowerCase() === 'http2-settings';

/** An HTTP/1.1 request asking for HTTP/2 over cleartext: `Upgrade: h2c` and one `HTTP2-Settings` (RFC 7540 3.2). */
export function asksH2cUpgrade(headers: HeaderList): boolean {
  return hasToken(headers, 'upgrade', 'h2c') && headers.some(([n]) => isSettingsHeader(n));
}

/** A response that accepts an h2c upgrade: `101` with `Upgrade: h2c`. */
export function acceptsH2cUpgrade(status: number, headers: HeaderList): boolean {
  return status === 101 && hasToken(headers, 'upgrade', 'h2c');
}

/** The upgrade request's HTTP2-Settings (base64url SETTINGS payload) applied as the client's first SETTINGS. */
export function applyH2cSettings(requestHeaders: HeaderList, clientToServer: Http2Parser): void {
  const settings = requestHeaders.find(([n]) => isSettingsHeader(n));
  if (settings !== undefined) clientToServer.applySettingsPayload(Buffer.from(settings[1].trim(), 'base64url'));
}
