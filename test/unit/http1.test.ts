import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Http1Parser, findHeadEnd, looksLikeHttpStart, parseRequestHead, parseResponseHead, MAX_HEAD_BYTES,
  WL_ERR_HTTP_HEAD_TOO_LARGE, WL_ERR_HTTP_BAD_START_LINE, WL_ERR_HTTP_BAD_CHUNK, NOT_HTTP_SKIP_LIMIT,
  type Http1Error, type Http1Role,
} from '../../src/proto/http1/index.js';
import { HttpAnomaly, type HttpRequestHead, type HttpResponseHead } from '../../src/records.js';

type Ev = ['req', HttpRequestHead] | ['res', HttpResponseHead] | ['body', number] | ['end'] | ['err', Http1Error] | ['nothttp'] | ['tunnel'];

/** Feed `data` to a parser in the given chunk sizes; collect events (body counts merged per message). */
function parse(data: string | Buffer, role: Http1Role, chunk = Infinity, methods: string[] = [], gaps: Map<number, number> = new Map()): Ev[] {
  const evs: Ev[] = [];
  const body = (n: number) => {
    if (n === 0) return;
    const last = evs[evs.length - 1];
    if (last !== undefined && last[0] === 'body') last[1] += n;
    else evs.push(['body', n]);
  };
  let mi = 0;
  const p = new Http1Parser({
    onRequest: (h) => evs.push(['req', h]),
    onResponse: (h) => {
      evs.push(['res', h]);
      return h.status >= 200 || h.status === 101 ? methods[mi++] : methods[mi];
    },
    onBody: body,
    onMessageEnd: () => evs.push(['end']),
    onError: (e) => evs.push(['err', e]),
    onNotHttp: () => evs.push(['nothttp']),
    onTunnel: () => evs.push(['tunnel']),
  }, role);
  const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  const step = Number.isFinite(chunk) ? chunk : buf.length;
  for (let i = 0; i < buf.length; i += step) {
    const g = gaps.get(i);
    if (g !== undefined) p.gap(g, 0);
    p.push(buf.subarray(i, Math.min(buf.length, i + step)), i);
  }
  p.end();
  return evs;
}
const kinds = (evs: Ev[]): string[] => evs.map((e) => (e[0] === 'req' ? `req ${e[1].method} ${e[1].uri}` : e[0] === 'res' ? `res ${e[1].status}` : e[0] === 'body' ? `body ${e[1]}` : e[0] === 'err' ? `err ${e[1].code}` : e[0]));

test('request-target forms and any token method', () => {
  const data =
    'GET /path?x=1 HTTP/1.1\r\nHost: a\r\n\r\n' +
    'GET http://example.com:8080/abs HTTP/1.1\r\nHost: example.com:8080\r\n\r\n' +
    'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n' +
    'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n' +
    'M-SEARCH * HTTP/1.1\r\nHost: 239.255.255.250:1900\r\n\r\n' +
    'BREW /pot HTTP/1.0\r\n\r\n';
  for (const chunk of [Infinity, 1, 3]) {
    assert.deepEqual(kinds(parse(data, 1, chunk)), [
      'req GET /path?x=1', 'end', 'req GET http://example.com:8080/abs', 'end', 'req CONNECT example.com:443', 'end',
      'req OPTIONS *', 'end', 'req M-SEARCH *', 'end', 'req BREW /pot', 'end',
    ]);
  }
  const evs = parse(data, 1);
  assert.equal((evs[10][1] as HttpRequestHead).version, 'HTTP/1.0');
});

test('status lines: with and without reason, reason with spaces', () => {
  const data = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 404\r\nContent-Length: 0\r\n\r\nHTTP/1.0 503 Service  Unavailable now\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n';
  const evs = parse(data, 2).filter((e) => e[0] === 'res') as ['res', HttpResponseHead][];
  assert.deepEqual(evs.map((e) => [e[1].version, e[1].status, e[1].reason]), [
    ['HTTP/1.1', 200, 'OK'], ['HTTP/1.1', 404, ''], ['HTTP/1.0', 503, 'Service  Unavailable now'], ['HTTP/1.1', 200, ''],
  ]);
});

test('headers: original case, OWS trimmed, obs-fold joined, bare LF line ends, extracted fields', () => {
  const data = 'POST /f HTTP/1.1\nHOST:  Example.COM  \nuser-agent: A\n  folded\tpart\nContent-type:text/plain; charset=utf-8\ncontent-length: 3\nX-Empty:\n\nabc';
  for (const chunk of [Infinity, 1, 2, 5]) {
    const evs = parse(data, 1, chunk);
    assert.deepEqual(kinds(evs), ['req POST /f', 'body 3', 'end']);
    const h = evs[0][1] as HttpRequestHead;
    assert.deepEqual(h.headers, [['HOST', 'Example.COM'], ['user-agent', 'A folded\tpart'], ['Content-type', 'text/plain; charset=utf-8'], ['content-length', '3'], ['X-Empty', '']]);
    assert.equal(h.host, 'Example.COM');
    assert.equal(h.userAgent, 'A folded\tpart');
    assert.equal(h.contentType, 'text/plain; charset=utf-8');
    assert.equal(h.contentLength, 3);
    assert.equal(h.headLen, data.length - 3);
  }
});

test('leading empty lines before a request are ignored', () => {
  assert.deepEqual(kinds(parse('\r\n\r\nGET / HTTP/1.1\r\n\r\n', 1)), ['req GET /', 'end']);
});

test('chunked bodies: extensions, whitespace, trailers, every split', () => {
  const data = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
    '5;a=b;c="d;e"\r\nhello\r\n' + '1A  \r\n' + 'z'.repeat(26) + '\r\n' + '0\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n' +
    'HTTP/1.1 204 No Content\r\n\r\n';
  const want = ['res 200', 'body 31', 'end', 'res 204', 'end'];
  for (const chunk of [Infinity, 1, 2, 3, 7, 13]) assert.deepEqual(kinds(parse(data, 2, chunk, ['GET', 'GET'])), want, `chunk ${chunk}`);
  assert.deepEqual(kinds(parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nXYZ\r\n', 2, Infinity, ['GET'])), ['res 200', `err ${WL_ERR_HTTP_BAD_CHUNK}`]);
});

test('content-length, until-close, HEAD, 1xx, 204, 304 framing', () => {
  const data = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n12345' +
    'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n' + // HEAD: no body
    'HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n' +
    'HTTP/1.1 200 OK\r\n\r\nuntil close HTTP/1.1 200 OK\r\n\r\n';
  assert.deepEqual(kinds(parse(data, 2, Infinity, ['PUT', 'HEAD', 'GET', 'GET'])), [
    'res 100', 'end', 'res 200', 'body 5', 'end', 'res 200', 'end', 'res 304', 'end', 'res 200', 'body 31', 'end',
  ]);
});

test('101 and 2xx to CONNECT end HTTP on the stream', () => {
  assert.deepEqual(kinds(parse('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello', 2, 1, ['GET'])), ['res 101', 'end', 'tunnel']);
  assert.deepEqual(kinds(parse('HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01', 2, Infinity, ['CONNECT'])), ['res 200', 'end', 'tunnel']);
});

test('a head over MAX_HEAD_BYTES is logged from its beginning, its rest skipped; a start line over it is a lost message', () => {
  const big = 'GET / HTTP/1.1\r\nHost: h\r\nX-Big: ' + 'a'.repeat(MAX_HEAD_BYTES) + '\r\n\r\n';
  for (const step of [1000, 65536]) {
    const p: Ev[] = [];
    const parser = new Http1Parser({
      onRequest: (h) => p.push(['req', h]), onResponse: () => undefined, onBody: () => {}, onMessageEnd: () => p.push(['end']),
      onError: (e) => p.push(['err', e]), onNotHttp: () => p.push(['nothttp']), onTunnel: () => {},
    }, 1);
    const b = Buffer.from(big);
    for (let i = 0; i < b.length; i += step) parser.push(b.subarray(i, i + step), 0);
    parser.push(Buffer.from('more junk\r\n\r\n'), 0);
    parser.push(Buffer.from('GET /next HTTP/1.1\r\n\r\n'), 0);
    assert.deepEqual(kinds(p), ['req GET /', `err ${WL_ERR_HTTP_HEAD_TOO_LARGE}`, 'end', `err ${WL_ERR_HTTP_BAD_START_LINE}`, 'req GET /next', 'end'], `step ${step}`);
    const h = p[0]![1] as HttpRequestHead;
    assert.deepEqual(h.headers, [['Host', 'h']], 'the complete lines of the kept part');
    assert.equal(h.anomalies, HttpAnomaly.HEAD_TOO_LARGE);
    const err = p[1]![1] as Http1Error;
    assert.equal(err.layer, 'http1');
    assert.equal(err.messageSkipped, false);
    assert.equal(err.required, MAX_HEAD_BYTES);
    assert.equal(err.actual, big.length);
    assert.equal(parser.skippedBytes, big.length - MAX_HEAD_BYTES + 'more junk\r\n\r\n'.length);
  }
  // a request line longer than the bound: nothing of it can be logged
  const p: Ev[] = [];
  const parser = new Http1Parser({
    onRequest: (h) => p.push(['req', h]), onResponse: () => undefined, onBody: () => {}, onMessageEnd: () => p.push(['end']),
    onError: (e) => p.push(['err', e]), onNotHttp: () => p.push(['nothttp']), onTunnel: () => {},
  }, 1);
  const line = Buffer.from('GET /' + 'a'.repeat(MAX_HEAD_BYTES) + ' HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n');
  for (let i = 0; i < line.length; i += 4096) parser.push(line.subarray(i, i + 4096), 0);
  assert.deepEqual(kinds(p), [`err ${WL_ERR_HTTP_HEAD_TOO_LARGE}`, 'req GET /next', 'end']);
  assert.equal((p[0]![1] as Http1Error).messageSkipped, true);
});

test('non-HTTP first bytes are a skipped message, not the end: past NOT_HTTP_SKIP_LIMIT the stream is not HTTP', () => {
  assert.deepEqual(kinds(parse(Buffer.from([0x16, 3, 1, 0, 0x20]), 0)), [`err ${WL_ERR_HTTP_BAD_START_LINE}`]);
  assert.deepEqual(kinds(parse('SSH-2.0-OpenSSH_9.2p1 Debian\r\n', 0, 1)), [`err ${WL_ERR_HTTP_BAD_START_LINE}`]);
  assert.deepEqual(kinds(parse('220 smtp.example.com ESMTP\r\n', 0)), [`err ${WL_ERR_HTTP_BAD_START_LINE}`]);
  assert.deepEqual(kinds(parse('GET / HTTP/1.1\r\n\r\n{"json": true}\r\n\r\n', 1)), ['req GET /', 'end', `err ${WL_ERR_HTTP_BAD_START_LINE}`]);
  // junk, then a request in the same stream: the request is parsed and says what came before it
  const evs = parse('\x16\x03\x01junk\r\nGET /after HTTP/1.1\r\n\r\n', 1);
  assert.deepEqual(kinds(evs), [`err ${WL_ERR_HTTP_BAD_START_LINE}`, 'req GET /after', 'end']);
  assert.equal((evs[1]![1] as HttpRequestHead).anomalies, HttpAnomaly.JUNK_BEFORE_MESSAGE);
  // more than NOT_HTTP_SKIP_LIMIT bytes with no start line in them: the parser stops, once
  const junk = Buffer.alloc(NOT_HTTP_SKIP_LIMIT + 100, 0x41);
  for (const chunk of [Infinity, 1000]) assert.deepEqual(kinds(parse(junk, 0, chunk)), [`err ${WL_ERR_HTTP_BAD_START_LINE}`, 'nothttp'], `chunk ${chunk}`);
});

test('gap inside a counted body is skipped; gap in a head reports the complete fields, then resync', () => {
  const data = 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n';
  // head is 39 bytes; body bytes 1..4 missing: push(0..40), gap(4), push(44..): fed as push(0..40), gap(4), push(44..)
  const b = Buffer.from(data);
  const evs: string[] = [];
  const p = new Http1Parser({
    onRequest: () => {}, onResponse: (h) => { evs.push(`res ${h.status}`); return 'GET'; }, onBody: (n) => evs.push(`body ${n}`),
    onMessageEnd: () => evs.push('end'), onError: (e) => evs.push(e.code), onNotHttp: () => {}, onTunnel: () => {},
  }, 2);
  p.push(b.subarray(0, 40), 0);
  p.gap(4, 0);
  p.push(b.subarray(44), 0);
  assert.deepEqual(evs, ['res 200', 'body 1', 'body 4', 'body 5', 'end', 'res 201', 'end']);
  // a head cut by a gap: the complete header lines are reported, the cut one is left out
  const evs2: HttpRequestHead[] = [];
  const q = new Http1Parser({
    onRequest: (h) => evs2.push(h), onResponse: () => undefined, onBody: () => {}, onMessageEnd: () => {},
    onError: () => {}, onNotHttp: () => {}, onTunnel: () => {},
  }, 1);
  q.push(Buffer.from('GET /x HTTP/1.1\r\nHost: h\r\nUser-Agent: cu'), 0);
  q.gap(100, 0);
  q.push(Buffer.from('GET /y HTTP/1.1\r\n\r\n'), 0);
  assert.deepEqual(evs2.map((h) => [h.uri, h.headers]), [['/x', [['Host', 'h']]], ['/y', []]]);
});

test('looksLikeHttpStart', () => {
  const l = (s: string) => looksLikeHttpStart(Buffer.from(s, 'latin1'));
  assert.equal(l('GET / HTTP/1.1\r\n'), 1);
  assert.equal(l('GET /very/long/path/cut-by-snapl'), 1);
  assert.equal(l('FOO /x HTTP/1.1\r\nHost: a\r\n'), 1);
  assert.equal(l('FOO /x'), 0, 'unknown method and no line end: not trusted');
  assert.equal(l('HTTP/1.1 200 OK\r\n'), 2);
  assert.equal(l('HTTP/1.1 200'), 2);
  assert.equal(l('HTTP/1.1 2'), 0);
  assert.equal(l('Hello world, this is a body\r\n'), 0);
  assert.equal(l('get / HTTP/1.1\r\n'), 1, 'a lower-case method is a request line (flagged when parsed)');
  assert.equal(l('http/1.1 200 OK\r\n'), 2, 'any case in "HTTP/"');
  assert.equal(l('GET   /a\tHTTP/1.1\r\n'), 1, 'several blanks');
  assert.equal(l('GET /index.html\r\n'), 1, 'HTTP/0.9');
  assert.equal(l('POST /index.html\r\n'), 0, 'HTTP/0.9 is GET only');
  assert.equal(l('GET HTTP/1.1\r\n'), 1, 'no target');
  assert.equal(l('GET /a b c\r\n'), 0, 'no version, several tokens');
  assert.equal(l('\x16\x03\x01\x02\x00'), 0);
  assert.equal(l('GET  / HTTP/1.1\r\n'), 1, 'two spaces: taken, as servers take it');
  assert.equal(l('GET / HTTP/1.1 extra\r\n'), 0);
  assert.equal(l('{"GET": 1}'), 0);
});

test('findHeadEnd: CRLF and bare LF', () => {
  const f = (s: string) => findHeadEnd(Buffer.from(s));
  assert.equal(f('GET / HTTP/1.1\r\nA: b\r\n\r\nbody'), 24);
  assert.equal(f('GET / HTTP/1.1\nA: b\n\nbody'), 21);
  assert.equal(f('GET / HTTP/1.1\r\nA: b\r\n'), -1);
  assert.equal(f('GET / HTTP/1.1\r\nA: b\r\n\r'), -1);
});

test('parseRequestHead/parseResponseHead on truncated heads leave cut fields out', () => {
  const req = Buffer.from('GET /a HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Moz');
  const h = parseRequestHead(req, 0, req.length, 5, false)!;
  assert.deepEqual([h.method, h.uri, h.version, h.host, h.userAgent, h.headers], ['GET', '/a', 'HTTP/1.1', 'example.com', undefined, [['Host', 'example.com']]]);
  // a folded header whose continuation is cut is left out too
  const fold = Buffer.from('GET /a HTTP/1.1\r\nX-A: 1\r\nX-B: first\r\n  contin');
  assert.deepEqual(parseRequestHead(fold, 0, fold.length, 0, false)!.headers, [['X-A', '1']]);
  const res = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Len');
  const r = parseResponseHead(res, 0, res.length, 0, false)!;
  assert.deepEqual([r.status, r.reason, r.contentType, r.contentLength], [200, 'OK', 'text/html', undefined]);
  const cutReason = Buffer.from('HTTP/1.1 404 Not Fo');
  assert.deepEqual([parseResponseHead(cutReason, 0, cutReason.length, 0, false)!.status, parseResponseHead(cutReason, 0, cutReason.length, 0, false)!.reason], [404, '']);
  assert.equal(parseRequestHead(Buffer.from('GET / HTTP/1.1\r\n\r\n'), 0, 18, 0, true)!.uri, '/');
  assert.equal(parseRequestHead(Buffer.from('GET / FTP/1.1\r\n\r\n'), 0, 17, 0, true), undefined);
});

test('Content-Length lists and Transfer-Encoding precedence', () => {
  const a = parse('HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabcHTTP/1.1 204 x\r\n\r\n', 2, Infinity, ['GET', 'GET']);
  assert.deepEqual(kinds(a), ['res 200', 'body 3', 'end', 'res 204', 'end']);
  const b = parse('HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.1 204 x\r\n\r\n', 2, Infinity, ['GET', 'GET']);
  assert.deepEqual(kinds(b), ['res 200', 'body 3', 'end', 'res 204', 'end']);
  const c = parse('HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcdef', 2, Infinity, ['GET']);
  assert.deepEqual(kinds(c), ['res 200', 'body 6', 'end'], 'conflicting lengths: read until close');
});
