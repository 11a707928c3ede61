import { Http1Parser, type Http1Handler } from '../../src/proto/http1/parser.js';
import type { Http1Role } from '../../src/proto/http1/sniff.js';
import { isHttp1Request, streams } from '../seeds.js';
import { chunked } from '../harness.js';
import { check, type FuzzTarget } from '../target.js';

const METHODS = ['GET', 'HEAD', 'CONNECT', 'POST', undefined];

/**
 * One direction's HTTP/1 parser fed in chunks whose sizes come from the input, with gaps. Input: byte 0 = chunk-size
 * pattern, byte 1 = gap pattern (bit i: a gap after chunk i) and the method a response answers; the rest is the
 * stream. Checked: no exception, body bytes counted are whole numbers, messages end only after they began.
 */
export function http1Target(name: string, role: Http1Role, pick: (b: Buffer) => boolean): FuzzTarget {
  return {
    name,
    what: `HTTP/1 ${role === 1 ? 'request' : 'response'} parser (heads, chunked and length framing, trailers, resync, gaps)`,
    maxLen: 8192,
    seeds: () => streams(pick).map((s) => Buffer.concat([Buffer.from([0xff, 0]), s])),
    dictionary: ['HTTP/1.1', 'HTTP/1.0', ' 200 OK\r\n', ' 100 Continue\r\n\r\n', ' 101 Switching Protocols\r\n', ' 204 No Content\r\n', ' 304 Not Modified\r\n',
      'Content-Length: ', 'Transfer-Encoding: chunked\r\n', 'Transfer-Encoding: gzip, chunked\r\n', 'Connection: close\r\n', 'Connection: upgrade\r\nUpgrade: websocket\r\n',
      'Expect: 100-continue\r\n', '\r\n\r\n', '\r\n', '\n', '0\r\n\r\n', 'ffffffffffffffff\r\n', ';ext=1', 'Trailer: x\r\n', 'GET / HTTP/1.1\r\n', 'CONNECT a:443 HTTP/1.1\r\n', 'GET /\r\n'],
    fuzz(data) {
      if (data.length < 2) return;
      const sizes = data[0]!, gaps = data[1]!;
      let open = 0, bodies = 0, ended = 0, responses = 0;
      const handler: Http1Handler = {
        onRequest(h) { check(typeof h.method === 'string' && (typeof h.uri === 'string' || h.uri === null), 'request head without method/uri'); void h.host; void h.userAgent; void h.contentType; open++; },
        onResponse(h) { check(Number.isInteger(h.status) && h.status >= 0, `status ${h.status}`); void h.contentType; void h.contentLength; open++; return METHODS[(gaps >> 5) % METHODS.length]!; },
        onBody(n) { check(Number.isSafeInteger(n) && n >= 0, `body bytes ${n}`); bodies += n; },
        onMessageEnd() { ended++; },
        onError(e) { check(typeof e.code === 'string' && e.code.startsWith('WL_ERR_HTTP'), `error code ${e.code}`); },
        onSkipped(n) { check(Number.isSafeInteger(n) && n >= 0, `skipped ${n}`); },
        onNotHttp() {},
        onTunnel() {},
        onTrailers(f) { check(Array.isArray(f), 'trailers'); },
        expectsSimpleResponse: () => (gaps & 0x10) !== 0,
      };
      const p = new Http1Parser(handler, role);
      let ts = 1, i = 0;
      chunked(data.subarray(2), sizes, (c) => {
        p.push(c, ts++);
        if (((gaps >> (i++ % 4)) & 1) !== 0 && (gaps & 0x80) !== 0) p.gap(1 + (c.length & 0xff), ts++);
      });
      p.end();
      void ended; void open; void responses;
      check(Number.isSafeInteger(bodies), `body total ${bodies}`);
    },
  };
}

export const target = http1Target('http1-request', 1, isHttp1Request);
