/**
 * TraceTracker on synthetic sensor events (no root): the h2c upgrade (RFC 7540 3.2) in both roles and at every
 * split point of the server's bytes, a declined upgrade, a WebSocket 101 (still the end of parsing), and trailers
 * (HTTP/1.1 chunked, HTTP/2 trailing HEADERS) in both directions. The HTTP/2 frames are built here with HPACK
 * literals without indexing (RFC 7541 6.2.2), so every expected header is the test's own input.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { TraceConn, TraceData } from '../../src/decode/sensor.js';
import type { TraceRequestEvent, TraceResponseEvent, TraceSink, TraceTrailersEvent, TraceTransaction } from '../../src/records.js';
import { TraceTracker } from '../../src/correlate/trace/tracker.js';
import { filterTraceSink, parseTraceFilter } from '../../src/sinks/filter.js';

const SRV = { addr: '127.0.0.1', port: 8080 };
const CLI = { addr: '127.0.0.1', port: 40001 };
let clock = 1_700_000_000_000_000;

function data(dir: 'in' | 'out', bytes: Buffer | string, role: 'server' | 'client' = 'server'): TraceData {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  const [local, remote] = role === 'server' ? [SRV, CLI] : [CLI, SRV];
  const ts = (clock += 1000);
  return {
    tsUs: ts, enterUs: ts - 10, pid: 100, tid: 100, comm: 't', fd: 7, source: 'syscall',
    syscall: dir === 'in' ? 'read' : 'write', direction: dir, family: 4,
    localAddr: local.addr, localPort: local.port, remoteAddr: remote.addr, remotePort: remote.port,
    len: b.length, payload: Buffer.from(b), truncated: false, tlsBytes: false, fdGuessed: false, sockId: 1n, ssl: 0n,
  };
}

function conn(kind: 'accept' | 'connect'): TraceConn {
  const server = kind === 'accept';
  return {
    tsUs: (clock += 10), kind, pid: 100, tid: 100, comm: 't', fd: server ? 3 : 7, ret: server ? 7 : 0, family: 4,
    localAddr: server ? SRV.addr : CLI.addr, localPort: server ? SRV.port : CLI.port,
    remoteAddr: server ? CLI.addr : SRV.addr, remotePort: server ? CLI.port : SRV.port, sockId: 1n,
  };
}

class Collect implements TraceSink {
  log: string[] = [];
  reqs: TraceRequestEvent[] = [];
  ress: TraceResponseEvent[] = [];
  trs: TraceTrailersEvent[] = [];
  txs: TraceTransaction[] = [];
  request(ev: TraceRequestEvent): void { this.reqs.push(ev); this.log.push(`req ${ev.reqId} ${ev.req.protocol} ${ev.req.path}`); }
  response(ev: TraceResponseEvent): void { this.ress.push(ev); this.log.push(`res ${ev.reqId} ${ev.res.status}`); }
  trailers(ev: TraceTrailersEvent): void { this.trs.push(ev); this.log.push(`trailers ${ev.reqId} ${ev.request ? 'req' : 'res'}`); }
  transaction(tx: TraceTransaction): void { this.txs.push(tx); this.log.push(`tx ${tx.reqId}`); }
}

// --- HTTP/2 frames by hand ----------------------------------------------------------------------------------------

const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK literal without indexing, new name, no Huffman (lengths < 127). */
function block(fields: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [n, v] of fields) parts.push(Buffer.from([0x00, n.length]), Buffer.from(n, 'latin1'), Buffer.from([v.length]), Buffer.from(v, 'latin1'));
  return Buffer.concat(parts);
}

const settings = (ack = false): Buffer => frame(4, ack ? 1 : 0, 0, ack ? Buffer.alloc(0) : Buffer.from([0, 3, 0, 0, 0, 100]));
const headers = (stream: number, fields: Array<[string, string]>, end: boolean): Buffer => frame(1, 4 | (end ? 1 : 0), stream, block(fields));
const dataFrame = (stream: number, body: string, end: boolean): Buffer => frame(0, end ? 1 : 0, stream, Buffer.from(body));

const UPGRADE_REQ = 'GET /first HTTP/1.1\r\nHost: up.test\r\nUser-Agent: t/1\r\nConnection: Upgrade, HTTP2-Settings\r\n' +
  'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n';
const SWITCH = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n';

/** The server's bytes after the request: 101, its SETTINGS, stream 1's response (with trailers), then stream 3's. */
function serverBytes(): Buffer {
  return Buffer.concat([
    Buffer.from(SWITCH, 'latin1'), settings(),
    headers(1, [[':status', '200'], ['content-type', 'text/plain'], ['x-n', '1']], false), dataFrame(1, 'first body', false),
    headers(1, [['x-checksum', 'abc']], true),
  ]);
}
const clientAfter = (): Buffer => Buffer.concat([Buffer.from(PREFACE, 'latin1'), settings(), settings(true),
  headers(3, [[':method', 'POST'], [':scheme', 'http'], [':authority', 'up.test'], [':path', '/second'], ['x-r', '2']], false),
  dataFrame(3, 'req body', false), headers(3, [['x-req-trailer', 'yes']], true)]);
const serverAfter = (): Buffer => Buffer.concat([settings(true), headers(3, [[':status', '404'], ['x-n', '3']], false), dataFrame(3, 'nope', true)]);

function checkUpgraded(c: Collect, t: TraceTracker): void {
  assert.deepEqual(c.log, ['req 1 HTTP/2.0 /first', 'res 1 200', 'trailers 1 res', 'tx 1', 'req 3 HTTP/2.0 /second',
    'trailers 3 req', 'res 3 404', 'tx 3'], c.log.join('\n'));
  const r1 = c.reqs[0]!.req;
  assert.deepEqual([r1.method, r1.authority, r1.scheme, r1.streamId], ['GET', 'up.test', 'http', 1]);
  assert.deepEqual(r1.headers, [['User-Agent', 't/1'], ['Connection', 'Upgrade, HTTP2-Settings'], ['Upgrade', 'h2c'],
    ['HTTP2-Settings', 'AAMAAABkAAQCAAAAAAIAAAAA']]);
  assert.deepEqual(c.ress[0]!.res.headers, [['content-type', 'text/plain'], ['x-n', '1']]);
  assert.deepEqual(c.txs[0]!.interim, [101]);
  assert.equal(c.txs[0]!.resBodyBytes, 'first body'.length);
  assert.deepEqual(c.txs[0]!.res!.trailers, [['x-checksum', 'abc']]);
  assert.equal(c.txs[0]!.conn.protocol, 'HTTP/2.0');
  assert.deepEqual(c.reqs[1]!.req.headers, [['x-r', '2']]);
  assert.deepEqual(c.txs[1]!.req!.trailers, [['x-req-trailer', 'yes']]);
  assert.equal(c.txs[1]!.reqBodyBytes, 'req body'.length);
  assert.equal(t.stats.parseErrors, 0);
  assert.equal(t.stats.unparsedBytes, 0);
}

test('h2c upgrade, traced server: the 101 switches to HTTP/2 at every split point of the server bytes', () => {
  const sb = serverBytes();
  for (let cut = 0; cut <= sb.length; cut++) {
    const c = new Collect();
    const t = new TraceTracker(c);
    t.conn(conn('accept'));
    t.data(data('in', UPGRADE_REQ));
    if (cut > 0) t.data(data('out', sb.subarray(0, cut)));
    if (cut < sb.length) t.data(data('out', sb.subarray(cut)));
    t.data(data('in', clientAfter()));
    t.data(data('out', serverAfter()));
    t.end();
    checkUpgraded(c, t);
  }
});

test('h2c upgrade, traced client (connect, mirrored directions), first seen without the connect too', () => {
  for (const withConnect of [true, false]) {
    const c = new Collect();
    const t = new TraceTracker(c);
    if (withConnect) t.conn(conn('connect'));
    t.data(data('out', UPGRADE_REQ, 'client'));
    t.data(data('in', serverBytes(), 'client'));
    t.data(data('out', clientAfter(), 'client'));
    t.data(data('in', serverAfter(), 'client'));
    t.end();
    checkUpgraded(c, t);
    assert.equal(c.reqs[0]!.conn.role, 'client');
  }
});

test('h2c upgrade declined: an HTTP/1.1 request after all, printed before its response', () => {
  const c = new Collect();
  const t = new TraceTracker(c);
  t.conn(conn('accept'));
  t.data(data('in', UPGRADE_REQ));
  assert.deepEqual(c.log, [], 'held until the answer');
  t.data(data('out', 'HTTP/1.1 100 Continue\r\n\r\n'));
  assert.deepEqual(c.log, [], 'an interim response does not decide');
  t.data(data('out', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
  t.data(data('in', 'GET /next HTTP/1.1\r\nHost: up.test\r\n\r\n'));
  t.data(data('out', 'HTTP/1.1 204 No Content\r\n\r\n'));
  t.end();
  assert.deepEqual(c.log, ['req 1 HTTP/1.1 /first', 'res 1 200', 'tx 1', 'req 2 HTTP/1.1 /next', 'res 2 204', 'tx 2']);
  assert.deepEqual(c.txs[0]!.interim, [100]);
});

test('an h2c upgrade request without an answer is shown when the connection ends', () => {
  const c = new Collect();
  const t = new TraceTracker(c);
  t.conn(conn('accept'));
  t.data(data('in', UPGRADE_REQ));
  assert.deepEqual(c.log, []);
  t.end();
  assert.deepEqual(c.log, ['req 1 HTTP/1.1 /first', 'tx 1']);
  assert.equal(c.txs[0]!.incomplete, 'no-response');
  assert.equal(t.stats.requests, 1);
});

test('a WebSocket 101 still ends parsing: the response is printed, later bytes are not HTTP', () => {
  const c = new Collect();
  const t = new TraceTracker(c);
  t.conn(conn('accept'));
  t.data(data('in', 'GET /ws HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'));
  t.data(data('out', 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello'));
  t.data(data('in', 'GET /not-a-request HTTP/1.1\r\n\r\n'));
  t.end();
  assert.deepEqual(c.log, ['req 1 HTTP/1.1 /ws', 'res 1 101', 'tx 1']);
});

test('an h2c upgrade request answered 101 for another protocol is not switched to HTTP/2', () => {
  const c = new Collect();
  const t = new TraceTracker(c);
  t.conn(conn('accept'));
  t.data(data('in', UPGRADE_REQ));
  t.data(data('out', 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'));
  t.data(data('in', clientAfter()));
  t.end();
  assert.deepEqual(c.log, ['req 1 HTTP/1.1 /first', 'res 1 101', 'tx 1']);
});

test('HTTP/1.1 chunked trailers, request and response, split at every byte of the response', () => {
  const req = 'POST /up HTTP/1.1\r\nHost: t.test\r\nTransfer-Encoding: chunked\r\nTrailer: X-Req-Sum\r\n\r\n' +
    '5\r\nhello\r\n0\r\nX-Req-Sum: r1\r\n\r\n';
  const res = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: c1\r\nX-Other:  spaced value \r\n\r\n';
  for (let cut = 0; cut <= res.length; cut++) {
    const c = new Collect();
    const t = new TraceTracker(c);
    t.conn(conn('accept'));
    t.data(data('in', req));
    if (cut > 0) t.data(data('out', res.slice(0, cut)));
    if (cut < res.length) t.data(data('out', res.slice(cut)));
    t.end();
    assert.deepEqual(c.log, ['req 1 HTTP/1.1 /up', 'trailers 1 req', 'res 1 200', 'trailers 1 res', 'tx 1'], `cut ${cut}`);
    assert.deepEqual(c.txs[0]!.req!.trailers, [['X-Req-Sum', 'r1']]);
    assert.deepEqual(c.txs[0]!.res!.trailers, [['X-Checksum', 'c1'], ['X-Other', 'spaced value']]);
    assert.equal(c.txs[0]!.resBodyBytes, 3);
    assert.equal(c.txs[0]!.incomplete, undefined);
  }
});

test('--filter with a status term: request trailers wait with their request, rejected ones are not shown', () => {
  const req = (path: string): string => `POST ${path} HTTP/1.1\r\nHost: t.test\r\nTransfer-Encoding: chunked\r\n\r\n` +
    '1\r\nx\r\n0\r\nX-Req-Sum: s\r\n\r\n';
  const c = new Collect();
  const t = new TraceTracker(filterTraceSink(parseTraceFilter('status=2xx'), c));
  t.conn(conn('accept'));
  t.data(data('in', req('/ok')));
  assert.deepEqual(c.log, [], 'held for the status');
  t.data(data('out', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
  t.data(data('in', req('/bad')));
  t.data(data('out', 'HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n'));
  t.end();
  assert.deepEqual(c.log, ['req 1 HTTP/1.1 /ok', 'trailers 1 req', 'res 1 200', 'tx 1']);
});
