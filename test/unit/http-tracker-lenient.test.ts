/**
 * docs/http1.md row by row, through the tracker: what is logged for lenient, malformed and hostile HTTP/1, which
 * anomalies a record carries, and what is counted. Expectations are written from the contract (the bytes each case
 * sends), not taken from a run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpTracker, type HttpGiveUp, type HttpTrackerOptions } from '../../src/correlate/http-tracker.js';
import { toHttpRecord, type HttpRecord } from '../../src/sinks/schema.js';
import { HTTP_ANOMALY_NAMES } from '../../src/records.js';
import { MAX_HEAD_BYTES } from '../../src/proto/http1/index.js';
import { Conv, Recorder, type Ep } from '../helpers/tcp-conv.js';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../helpers/paths.js';

const CLIENT: Ep = { ip: '192.0.2.10', port: 40000 };
const SERVER: Ep = { ip: '10.0.0.1', port: 80 };

interface Run {
  recs: HttpRecord[];
  t: HttpTracker;
  r: Recorder;
  giveUps: HttpGiveUp[];
}

function run(build: (c: Conv) => Conv, opts: Partial<HttpTrackerOptions> = {}, mss?: number): Run {
  const r = new Recorder();
  const giveUps: HttpGiveUp[] = [];
  const t = new HttpTracker(
    { reassembly: true, servicePorts: new Set([80]), localAddrs: new Set([SERVER.ip]), onGiveUp: (g) => giveUps.push(g), ...opts },
    r,
  );
  const conv = build(new Conv(CLIENT, SERVER).handshake()).close();
  // optionally re-cut every payload into mss-byte segments: the result must not depend on segmentation
  for (const s of conv.segs) {
    if (mss === undefined || s.payload.length <= mss) t.onSegment(s);
    else for (let i = 0; i < s.payload.length; i += mss) {
      const p = s.payload.subarray(i, Math.min(s.payload.length, i + mss));
      t.onSegment({ ...s, seq: (s.seq + i) >>> 0, payload: p, payloadLen: p.length });
    }
  }
  t.finish();
  return { recs: r.txs.map((x) => toHttpRecord(x)), t, r, giveUps };
}

/** the fields a case is judged on */
const view = (x: HttpRecord) => ({ method: x.method, uri: x.uri, version: x.version, status: x.status, incomplete: x.incomplete, anomalies: x.anomalies });

const OK0 = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
const BAD = 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';

/** every case in several segmentations: whole, 1-byte, 7-byte segments */
function each(name: string, fn: (mss: number | undefined) => void): void {
  test(name, () => {
    for (const mss of [undefined, 1, 7]) fn(mss);
  });
}

each('stray CRLF before a request: skipped, counted, flagged', (mss) => {
  const { recs, t } = run((c) => c.c('\r\n\r\nGET /x HTTP/1.1\r\nHost: t\r\n\r\n').s(OK0), {}, mss);
  assert.deepEqual(recs.map(view), [{ method: 'GET', uri: '/x', version: 'HTTP/1.1', status: 200, incomplete: null, anomalies: ['crlf-before-message'] }]);
  assert.equal(t.stats.bytesSkipped, 4);
  assert.equal(t.stats.messagesSkipped, 0);
});

each('binary junk then a request: the junk is a skipped request answered 400, the request after it is logged', (mss) => {
  const junk = '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03junk\r\n';
  const { recs, t, giveUps } = run((c) => c.c(junk + 'GET /after HTTP/1.1\r\nHost: t\r\n\r\n').s(BAD), {}, mss);
  assert.deepEqual(recs.map(view), [
    { method: null, uri: null, version: null, status: 400, incomplete: 'no-request', anomalies: ['bad-start-line'] },
    { method: 'GET', uri: '/after', version: 'HTTP/1.1', status: null, incomplete: 'no-response', anomalies: ['junk-before-message'] },
  ]);
  assert.equal(t.stats.messagesSkipped, 1);
  assert.equal(t.stats.bytesSkipped, Buffer.byteLength(junk, 'latin1'));
  assert.deepEqual(t.stats.parseErrorsByCode, { WL_ERR_HTTP_BAD_START_LINE: 1 });
  assert.deepEqual(giveUps.map((g) => [g.kind, g.stream, g.offset, g.code]), [['skip', 'request', 0, 'WL_ERR_HTTP_BAD_START_LINE']]);
  assert.deepEqual([giveUps[0]!.client, giveUps[0]!.server], [CLIENT, SERVER]);
});

each('a bad request between good ones on a keep-alive connection: each answer pairs with its own request', (mss) => {
  const { recs, t } = run((c) => c
    .c('GET /a HTTP/1.1\r\nHost: t\r\n\r\n').s('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
    .c('THIS IS NOT HTTP\r\nHost: t\r\n\r\n').s('HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad')
    .c('GET /c HTTP/1.1\r\nHost: t\r\n\r\n').s('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'), {}, mss);
  assert.deepEqual(recs.map((x) => [x.req_id, x.uri, x.status, x.incomplete, x.anomalies, x.res_body_bytes]), [
    [1, '/a', 200, null, [], 2],
    [2, null, 400, 'no-request', ['bad-start-line'], 3],
    [3, '/c', 404, null, ['junk-before-message'], 0],
  ]);
  assert.equal(t.stats.messagesSkipped, 1);
  assert.equal(t.stats.bytesSkipped, 'THIS IS NOT HTTP\r\nHost: t\r\n\r\n'.length);
});

each('a response that cannot be parsed: the request it answers is logged as no-response, with the reason', (mss) => {
  const { recs, t } = run((c) => c
    .c('GET /a HTTP/1.1\r\n\r\n').s('XTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
    .c('GET /b HTTP/1.1\r\n\r\n').s(OK0), {}, mss);
  assert.deepEqual(recs.map((x) => [x.uri, x.status, x.incomplete, x.anomalies]), [
    ['/a', null, 'no-response', ['bad-start-line']],
    ['/b', 200, null, ['junk-before-message']],
  ]);
  assert.equal(t.stats.messagesSkipped, 1);
});

each('lenient request and status lines: each leniency logged as the server takes it, and flagged', (mss) => {
  const { recs } = run((c) => c
    .c('GET HTTP/1.1\r\nHost: t\r\n\r\n').s(BAD.replace('Connection: close\r\n', ''))
    .c('GET /v HTTP/1.10\r\n\r\n').s(OK0)
    .c('GET /v2 HTTP/1.\r\n\r\n').s(OK0)
    .c('GET   /sp \t HTTP/1.1\r\n\r\n').s('http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
    .c('get /lc HTTP/1.1\r\n\r\n').s('HTTP/1.1  200  OK\r\nContent-Length: 0\r\n\r\n')
    .c('QUERY /q HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc').s(OK0)
    .c('PROPFIND /dav HTTP/1.1\r\n\r\n').s('HTTP/1.1 207 Multi-Status\r\nContent-Length: 0\r\n\r\n')
    .c('GET /a b HTTP/1.1\r\n\r\n').s(OK0), {}, mss);
  assert.deepEqual(recs.map((x) => [x.method, x.uri, x.version, x.status, x.res_version, x.anomalies]), [
    ['GET', null, 'HTTP/1.1', 400, 'HTTP/1.1', ['no-target']],
    ['GET', '/v', 'HTTP/1.10', 200, 'HTTP/1.1', ['bad-version']],
    ['GET', '/v2', 'HTTP/1.', 200, 'HTTP/1.1', ['bad-version']],
    ['GET', '/sp', 'HTTP/1.1', 200, 'http/1.1', ['extra-whitespace', 'bad-version']],
    ['get', '/lc', 'HTTP/1.1', 200, 'HTTP/1.1', ['unknown-method', 'extra-whitespace']],
    ['QUERY', '/q', 'HTTP/1.1', 200, 'HTTP/1.1', ['unknown-method']],
    ['PROPFIND', '/dav', 'HTTP/1.1', 207, 'HTTP/1.1', []],
    ['GET', '/a b', 'HTTP/1.1', 200, 'HTTP/1.1', ['space-in-target']],
  ]);
  assert.equal(recs[5]!.req_body_bytes, 3);
});

each('bare LF, obs-fold, odd header names: the head is read, every oddity flagged', (mss) => {
  const { recs, r } = run((c) => c
    .c('GET /lf HTTP/1.1\nHost: t\nUser-Agent: ua\n  continued\nX Bad: 1\nName : v\nno colon here\n\n')
    .s('HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 2\n\nok'), {}, mss);
  assert.deepEqual(recs.map(view), [{
    method: 'GET', uri: '/lf', version: 'HTTP/1.1', status: 200, incomplete: null,
    anomalies: ['bare-lf', 'obs-fold', 'bad-header-name', 'header-without-colon'],
  }]);
  assert.equal(recs[0]!.user_agent, 'ua continued');
  assert.equal(recs[0]!.content_type, 'text/plain');
  assert.equal(recs[0]!.res_body_bytes, 2);
  assert.deepEqual(r.requests[0]!.req.headers, [['Host', 't'], ['User-Agent', 'ua continued'], ['X Bad', '1'], ['Name', 'v']]);
});

each('HTTP/0.9: the simple request and its answer, a body until close', (mss) => {
  const body = '<html>zero nine</html>\n';
  const { recs } = run((c) => c.c('GET /index.html\r\n').s(body), {}, mss);
  assert.deepEqual(recs.map((x) => [x.method, x.uri, x.version, x.status, x.reason, x.res_version, x.res_body_bytes, x.incomplete]), [
    ['GET', '/index.html', 'HTTP/0.9', null, null, 'HTTP/0.9', body.length, null],
  ]);
  // a server that does not speak 0.9 answers with a status line: that is what is logged
  const { recs: recs2 } = run((c) => c.c('GET /index.html\r\n').s('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'), {}, mss);
  assert.deepEqual(recs2.map((x) => [x.version, x.status, x.res_version]), [['HTTP/0.9', 400, 'HTTP/1.1']]);
});

each('Content-Length: leading zeros, repeated values, differing values', (mss) => {
  const { recs } = run((c) => c
    .c('POST /z HTTP/1.1\r\nContent-Length: 0000000000000000005\r\n\r\nhello').s(OK0)
    .c('POST /r HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc').s(OK0)
    .c('POST /l HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nab').s(OK0), {}, mss);
  assert.deepEqual(recs.map((x) => [x.uri, x.req_content_length, x.req_body_bytes, x.anomalies]), [
    ['/z', 5, 5, []], ['/r', 3, 3, ['cl-repeated']], ['/l', 2, 2, ['cl-repeated']],
  ]);
  // differing values: the request's length is unknown (RFC 9112 6.3 rule 5); what follows is looked at line by line
  const mis = run((c) => c.c('POST /m HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello\r\nGET /next HTTP/1.1\r\n\r\n').s(BAD), {}, mss);
  assert.deepEqual(mis.recs.map((x) => [x.uri, x.status, x.req_content_length, x.incomplete, x.anomalies]), [
    ['/m', 400, null, null, ['cl-mismatch']],
    ['/next', null, null, 'no-response', ['junk-before-message']],
  ]);
  assert.deepEqual(mis.t.stats.parseErrorsByCode, { WL_ERR_HTTP_BAD_FRAMING: 1 });
  assert.equal(mis.t.stats.messagesSkipped, 0, 'the request was logged: only its body was skipped');
  assert.equal(mis.t.stats.bytesSkipped, 'hello\r\n'.length);
  // not a number: unusable as well
  const inv = run((c) => c.c('POST /i HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n').s(BAD), {}, mss);
  assert.deepEqual(inv.recs.map((x) => [x.uri, x.req_content_length, x.anomalies]), [['/i', null, ['cl-invalid']]]);
});

each('Transfer-Encoding and Content-Length: chunked wins, the request smuggled in the body is logged on its own', (mss) => {
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n';
  const body = '0\r\n\r\n' + smuggled;
  const { recs } = run((c) => c
    .c(`POST /te-cl HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`)
    .s(OK0).s('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'), {}, mss);
  assert.deepEqual(recs.map((x) => [x.method, x.uri, x.status, x.req_body_bytes, x.anomalies]), [
    ['POST', '/te-cl', 200, 0, ['te-and-cl']],
    ['GET', '/smuggled', 404, 0, []],
  ]);
});

each('chunked bodies: leading zeros and extensions taken; overflow, bad sizes and TE not chunked last lose the framing', (mss) => {
  const { recs } = run((c) => c.c('POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0005;ext=1\r\nhello\r\n00000\r\n\r\n').s(OK0), {}, mss);
  assert.deepEqual(recs.map((x) => [x.uri, x.req_body_bytes, x.anomalies]), [['/c', 5, []]]);
  const ov = run((c) => c.c('POST /o HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nxx\r\nGET /after HTTP/1.1\r\n\r\n').s(BAD), {}, mss);
  assert.deepEqual(ov.recs.map((x) => [x.uri, x.status, x.incomplete, x.anomalies]), [
    ['/o', 400, null, ['chunk-overflow']],
    ['/after', null, 'no-response', ['junk-before-message']],
  ]);
  assert.deepEqual(ov.t.stats.parseErrorsByCode, { WL_ERR_HTTP_CHUNK_OVERFLOW: 1 });
  // the chunk-size line is a request line: the body ended early, the next message starts there
  const bad = run((c) => c.c('POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nGET /next HTTP/1.1\r\n\r\n').s(BAD), {}, mss);
  assert.deepEqual(bad.recs.map((x) => [x.uri, x.anomalies]), [['/b', ['bad-chunk']], ['/next', ['junk-before-message']]]);
  const te = run((c) => c.c('POST /t HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\nxyz').s(BAD), {}, mss);
  assert.deepEqual(te.recs.map((x) => [x.uri, x.status, x.anomalies]), [['/t', 400, ['te-not-chunked-last']]]);
  assert.equal(te.t.stats.bytesSkipped, 3);
  // a response with Transfer-Encoding not chunked last is read until close
  const rs = run((c) => c.c('GET /g HTTP/1.1\r\n\r\n').s('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nabcdef'), {}, mss);
  assert.deepEqual(rs.recs.map((x) => [x.uri, x.res_body_bytes, x.anomalies]), [['/g', 6, ['te-and-cl', 'te-not-chunked-last']]]);
  // Transfer-Encoding in HTTP/1.0
  const h10 = run((c) => c.c('POST /h HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n').s(OK0), {}, mss);
  assert.deepEqual(h10.recs.map((x) => [x.uri, x.req_body_bytes, x.anomalies]), [['/h', 1, ['te-in-http10']]]);
});

each('a head over 256 KiB is logged from its beginning, flagged; a start line over it is a skipped message', (mss) => {
  const huge = 'GET /huge HTTP/1.1\r\nHost: t\r\nX-Big: ' + 'a'.repeat(300 * 1024) + '\r\n\r\n';
  const seg = mss === 1 ? 997 : mss;
  const { recs, t } = run((c) => c.c(huge).s('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n').c('GET /next HTTP/1.1\r\n\r\n').s(OK0), {}, seg);
  assert.deepEqual(recs.map((x) => [x.uri, x.host, x.status, x.incomplete, x.anomalies]), [
    ['/huge', 't', 404, null, ['head-too-large']],
    ['/next', null, 200, null, []],
  ]);
  assert.equal(t.stats.bytesSkipped, huge.length - MAX_HEAD_BYTES);
  assert.equal(t.stats.messagesSkipped, 0);
  assert.deepEqual(t.stats.parseErrorsByCode, { WL_ERR_HTTP_HEAD_TOO_LARGE: 1 });
  const line = 'GET /' + 'a'.repeat(300 * 1024) + ' HTTP/1.1\r\n\r\n';
  const lost = run((c) => c.c(line).s('HTTP/1.1 414 Request-URI Too Large\r\nContent-Length: 0\r\n\r\n').c('GET /next HTTP/1.1\r\n\r\n').s(OK0), {}, seg);
  assert.deepEqual(lost.recs.map((x) => [x.uri, x.status, x.incomplete, x.anomalies]), [
    [null, 414, 'no-request', ['head-too-large']],
    ['/next', 200, null, ['junk-before-message']],
  ]);
  assert.equal(lost.t.stats.messagesSkipped, 1);
  assert.equal(lost.t.stats.bytesSkipped, line.length);
});

each('a server that answers before the request head is complete: the answer is logged with that request', (mss) => {
  const head = 'GET /early HTTP/1.1\r\nHost: t\r\nX-Big: ' + 'b'.repeat(5000) + '\r\n\r\n';
  const cut = 100;
  const { recs, r } = run((c) => c.c(head.slice(0, cut)).s('HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 4\r\n\r\nbig!').c(head.slice(cut)), {}, mss);
  assert.deepEqual(recs.map((x) => [x.req_id, x.uri, x.status, x.res_body_bytes, x.incomplete]), [[1, '/early', 431, 4, null]]);
  assert.ok(recs[0]!.latency_ms !== null && recs[0]!.latency_ms > 0);
  assert.deepEqual(r.requests.map((e) => e.reqId), [1]);
  // the client stops mid-head (FIN): the head's complete lines are the request, and the answer is its answer
  const { recs: cutHead } = run((c) => c.c(head.slice(0, cut)).s('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'), {}, mss);
  assert.deepEqual(cutHead.map((x) => [x.uri, x.host, x.status, x.incomplete]), [['/early', 't', 400, null]]);
  // the request line itself never completes: the answer is logged alone
  const { recs: alone } = run((c) => c.c('GET /ear').s('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'), {}, mss);
  assert.deepEqual(alone.map((x) => [x.uri, x.status, x.incomplete]), [[null, 400, 'no-request']]);
});

test('a response read until close that ends with a reset is partial-body; with a FIN it is complete', () => {
  const reset = run((c) => c.c('GET /r HTTP/1.1\r\n\r\n').s('HTTP/1.1 431 Too Large\r\nConnection: close\r\n\r\nsome body').rst(1));
  assert.deepEqual(reset.recs.map((x) => [x.uri, x.status, x.res_body_bytes, x.incomplete]), [['/r', 431, 9, 'partial-body']]);
  const fin = run((c) => c.c('GET /f HTTP/1.1\r\n\r\n').s('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nsome body'));
  assert.deepEqual(fin.recs.map((x) => [x.uri, x.status, x.res_body_bytes, x.incomplete]), [['/f', 200, 9, null]]);
});

test('not HTTP: junk both ways past NOT_HTTP_SKIP_LIMIT, or a connection that closes without a message', () => {
  const big = run((c) => c.c(Buffer.alloc(20_000, 0x16)).s(Buffer.alloc(20_000, 0x17)));
  assert.deepEqual(big.recs, []);
  assert.equal(big.t.stats.connectionsNotHttp, 1);
  assert.equal(big.t.stats.messagesSkipped, 0, 'a connection that is not HTTP skips no HTTP messages');
  assert.equal(big.t.stats.bytesSkipped, 0);
  assert.deepEqual(big.giveUps.map((g) => g.kind), ['not-http']);
  const small = run((c) => c.c('SSH-2.0-OpenSSH_9.2p1\r\n').s('SSH-2.0-OpenSSH_9.2p1 Debian\r\n'));
  assert.deepEqual(small.recs, []);
  assert.equal(small.t.stats.connectionsNotHttp, 1);
  assert.equal(small.t.stats.parseErrors, 0, 'give-ups of a connection that is not HTTP are not parse errors');
  // the server answers a TLS ClientHello sent to its HTTP port with 400: that connection is HTTP
  const tls = run((c) => c.c(Buffer.concat([Buffer.from([0x16, 3, 1, 0, 200]), Buffer.alloc(200, 1)])).s(BAD));
  assert.deepEqual(tls.recs.map(view), [{ method: null, uri: null, version: null, status: 400, incomplete: 'no-request', anomalies: ['bad-start-line'] }]);
  assert.equal(tls.t.stats.connectionsNotHttp, 0);
  assert.equal(tls.t.stats.messagesSkipped, 1);
  assert.equal(tls.t.stats.bytesSkipped, 205);
});

test('a stream picked up mid-way (no SYN): leading bytes skipped quietly, no flag, no error', () => {
  const r = new Recorder();
  const t = new HttpTracker({ reassembly: true, servicePorts: new Set([80]), localAddrs: new Set([SERVER.ip]) }, r);
  const conv = new Conv(CLIENT, SERVER).c('dy of an earlier request\r\nGET /mid HTTP/1.1\r\n\r\n').s('rest of a body HTTP/1.1 200 OK\r\n\r\n').s(OK0);
  for (const s of conv.segs) t.onSegment(s);
  t.finish();
  const recs = r.txs.map((x) => toHttpRecord(x));
  assert.deepEqual(recs.map((x) => [x.uri, x.status, x.anomalies]), [['/mid', 200, []]]);
  assert.equal(t.stats.parseErrors, 0);
  assert.ok(t.stats.bytesSkipped > 0);
});

test('no-reassembly mode takes the same lenient heads', () => {
  const { recs } = run((c) => c.c('get   /lc HTTP/1.10\r\nHost: t\r\n\r\n').s('http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), { reassembly: false });
  assert.deepEqual(recs.map((x) => [x.method, x.uri, x.version, x.status, x.anomalies]), [
    ['get', '/lc', 'HTTP/1.10', 200, ['bad-version', 'extra-whitespace', 'unknown-method']],
  ]);
});

test('docs/schema.md lists exactly the anomaly names the code has, and docs/http1.md uses no other', () => {
  const schema = fs.readFileSync(path.join(repoRoot, 'docs', 'schema.md'), 'utf8');
  const documented = [...schema.matchAll(/^\|\s*`([a-z0-9]+(?:-[a-z0-9]+)+)`\s*\|/gm)].map((m) => m[1]);
  assert.deepEqual(documented, [...HTTP_ANOMALY_NAMES]);
  const http1 = fs.readFileSync(path.join(repoRoot, 'docs', 'http1.md'), 'utf8');
  for (const m of http1.matchAll(/\|\s*`([a-z0-9]+(?:-[a-z0-9]+)+)`\s*\|\s*$/gm)) assert.ok(HTTP_ANOMALY_NAMES.includes(m[1]!), m[1]);
});
