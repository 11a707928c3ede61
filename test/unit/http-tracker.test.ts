import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpTracker, type HttpTrackerOptions } from '../../src/correlate/http-tracker.js';
import { TCP_ACK, type TransportSegment } from '../../src/records.js';
import { Conv, Recorder, type Ep } from '../helpers/tcp-conv.js';

const CLIENT: Ep = { ip: '192.0.2.10', port: 40000 };
const SERVER: Ep = { ip: '10.0.0.1', port: 80 };
const LOCAL = new Set(['10.0.0.1']);

function run(segs: TransportSegment[], opts: Partial<HttpTrackerOptions> = {}, finish = true): { r: Recorder; t: HttpTracker } {
  const r = new Recorder();
  const t = new HttpTracker({ reassembly: true, servicePorts: new Set([80]), localAddrs: LOCAL, ...opts }, r);
  for (const s of segs) t.onSegment(s);
  if (finish) t.finish();
  return { r, t };
}

/** a comparable digest of everything emitted (timestamps included) */
function digest(r: Recorder): unknown {
  return {
    requests: r.requests.map((e) => [e.conn.connId, e.reqId, e.req.tsUs, e.req.method, e.req.uri, e.req.version, e.req.headers, e.req.host, e.req.userAgent, e.req.contentLength, e.req.contentType, e.req.chunked, e.req.headLen]),
    responses: r.responses.map((e) => [e.conn.connId, e.reqId, e.req?.uri, e.res.tsUs, e.res.version, e.res.status, e.res.reason, e.res.headers, e.res.contentLength, e.res.contentType, e.res.chunked, e.res.headLen]),
    txs: r.txs.map((x) => [x.conn.connId, x.reqId, x.req?.uri, x.res?.status, x.interim.map((h) => h.status), x.latencyMs, x.incomplete, x.gapBytes, x.reqBodyBytes]),
  };
}

const REQ1 = 'GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n';
const RES1 = 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\r\nhello world\n';
const REQ2 = 'POST /api HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a":1}';
const RES2 = 'HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n';
const REQ3 = 'DELETE /x HTTP/1.1\r\nHost: example.com\r\n\r\n';
const RES3 = 'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nnope!\r\n0\r\n\r\n';

function keepAlive(isn?: [number, number], mss?: number): Conv {
  return new Conv(CLIENT, SERVER, isn).handshake().c(REQ1, mss).s(RES1, mss).c(REQ2, mss).s(RES2, mss).c(REQ3, mss).s(RES3, mss).close();
}

// ---------- tests ----------

test('one GET/200: fields, pairing, latency, connection info', () => {
  const conv = new Conv(CLIENT, SERVER).handshake().c(REQ1).s(RES1).close();
  const { r, t } = run(conv.segs);
  assert.equal(r.requests.length, 1);
  const q = r.requests[0];
  assert.equal(q.req.method, 'GET');
  assert.equal(q.req.uri, '/index.html?q=1');
  assert.equal(q.req.version, 'HTTP/1.1');
  assert.equal(q.req.host, 'example.com');
  assert.equal(q.req.userAgent, 'curl/8.0');
  assert.deepEqual(q.req.headers, [['Host', 'example.com'], ['User-Agent', 'curl/8.0'], ['Accept', '*/*']]);
  assert.equal(q.req.headLen, REQ1.length);
  assert.equal(q.req.tsUs, conv.segs[3].tsUs);
  assert.equal(q.reqId, 1);
  // Conv's default ISNs are 1000 (client) and 5000 (server): the handshake gives the connection's trace id
  assert.deepEqual(q.conn, { connId: 1, clientIp: CLIENT.ip, clientPort: CLIENT.port, serverIp: SERVER.ip, serverPort: 80, family: 4, kind: 'CQ', decidedBy: 'syn', connTraceId: '1000_5000' });
  const s = r.responses[0];
  assert.equal(s.res.status, 200);
  assert.equal(s.res.reason, 'OK');
  assert.equal(s.res.contentLength, 12);
  assert.equal(s.res.contentType, 'text/html');
  assert.equal(s.req, q.req);
  assert.equal(r.txs.length, 1);
  const tx = r.txs[0];
  assert.equal(tx.reqId, 1);
  assert.equal(tx.incomplete, undefined);
  assert.equal(tx.latencyMs, (conv.segs[4].tsUs - conv.segs[3].tsUs) / 1000);
  assert.equal(t.stats.transactions, 1);
  assert.equal(t.stats.connections, 1);
  assert.equal(t.stats.activeConnections, 0);
});

test('keep-alive: three transactions in order, reqIds 1..3, body bytes counted', () => {
  const { r, t } = run(keepAlive().segs);
  assert.deepEqual(r.requests.map((e) => [e.reqId, e.req.method, e.req.uri]), [[1, 'GET', '/index.html?q=1'], [2, 'POST', '/api'], [3, 'DELETE', '/x']]);
  assert.deepEqual(r.txs.map((x) => [x.reqId, x.req?.method, x.res?.status, x.incomplete]), [[1, 'GET', 200, undefined], [2, 'POST', 201, undefined], [3, 'DELETE', 404, undefined]]);
  assert.equal(r.txs[1].reqBodyBytes, 7);
  assert.equal(r.responses[2].res.chunked, true);
  assert.equal(t.stats.parseErrors, 0);
  assert.equal(t.stats.gaps, 0);
});

test('heads split at every byte boundary give the same events', () => {
  const all = REQ1 + REQ2;
  for (let cut = 1; cut < all.length; cut++) {
    const conv = new Conv(CLIENT, SERVER).handshake().c(all, 1448, [cut]);
    const resp = RES1 + RES2;
    conv.s(resp, 1448, [Math.max(1, Math.min(resp.length - 1, cut))]);
    const segs = conv.close().segs;
    // reference for this layout: same bytes in one segment per side
    const one = new Conv(CLIENT, SERVER).handshake().c(all).s(resp).close().segs;
    const a = run(segs).r;
    const b = run(one).r;
    assert.deepEqual(a.requests.map((e) => [e.req.method, e.req.uri, e.req.headers, e.req.headLen]), b.requests.map((e) => [e.req.method, e.req.uri, e.req.headers, e.req.headLen]), `cut ${cut}`);
    assert.deepEqual(a.responses.map((e) => [e.res.status, e.res.headers, e.reqId]), b.responses.map((e) => [e.res.status, e.res.headers, e.reqId]), `cut ${cut}`);
    assert.equal(a.txs.length, 2);
  }
  // 1-byte segments everywhere: identical to the reference except the timestamps
  const tiny = run(keepAlive(undefined, 1).segs).r;
  const strip = (d: any) => JSON.stringify(d, (k, v) => (k === 'tsUs' ? undefined : v));
  assert.equal(strip(tiny.requests.map((e) => e.req)), strip(run(keepAlive().segs).r.requests.map((e) => e.req)));
  assert.equal(tiny.txs.length, 3);
});

test('message timestamp is the segment carrying its first byte', () => {
  const conv = new Conv(CLIENT, SERVER).handshake().c(REQ1, 1448, [1, 5]).s(RES1, 1448, [3]).close();
  const { r } = run(conv.segs);
  assert.equal(r.requests[0].req.tsUs, conv.segs[3].tsUs);
  assert.equal(r.responses[0].res.tsUs, conv.segs[6].tsUs);
  assert.equal(r.txs[0].latencyMs, (conv.segs[6].tsUs - conv.segs[3].tsUs) / 1000);
});

function shuffle<T>(a: T[], seed: number): T[] {
  const out = a.slice();
  let x = seed;
  for (let i = out.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

test('out-of-order delivery gives the same events', () => {
  const conv = keepAlive(undefined, 7);
  const ref = digest(run(conv.segs).r);
  for (let seed = 1; seed <= 30; seed++) {
    // shuffle each run of consecutive same-direction segments (one message, or a burst): a response never
    // precedes the request it answers, as in any real capture
    const segs: TransportSegment[] = [];
    let run0 = 0;
    const all = conv.segs;
    for (let i = 1; i <= all.length; i++) {
      if (i === all.length || all[i].sport !== all[run0].sport) {
        segs.push(...shuffle(all.slice(run0, i), seed * 31 + i));
        run0 = i;
      }
    }
    const { r, t } = run(segs);
    assert.deepEqual(digest(r), ref, `seed ${seed}`);
    assert.equal(t.stats.gaps, 0);
  }
});

test('retransmissions and overlapping retransmissions with other boundaries', () => {
  const base = keepAlive();
  const ref = digest(run(base.segs).r);
  // re-send every data segment, then re-send the whole client stream re-cut at different boundaries
  const conv = new Conv(CLIENT, SERVER).handshake();
  const startC = conv.seq[0];
  conv.c(REQ1, 1448, [10, 30]);
  const dupBytes = REQ1.length;
  // overlapping retransmission: bytes 5..50 of REQ1 again, then 20..end
  const r1 = Buffer.from(REQ1, 'latin1');
  const mk = (from: number, to: number): TransportSegment => ({ ...conv.segs[3], tsUs: conv.t += 1000, seq: (startC + from) >>> 0, payload: r1.subarray(from, to), payloadLen: to - from });
  conv.segs.push(mk(5, 50), mk(20, r1.length), mk(0, r1.length));
  conv.s(RES1).c(REQ2).s(RES2).c(REQ3).s(RES3).close();
  const { r, t } = run(conv.segs);
  const d = digest(r) as any;
  const expect = ref as any;
  assert.deepEqual(d.requests.map((x: any[]) => x.slice(3)), expect.requests.map((x: any[]) => x.slice(3)));
  assert.deepEqual(d.txs.map((x: any[]) => [x[1], x[2], x[3], x[6]]), expect.txs.map((x: any[]) => [x[1], x[2], x[3], x[6]]));
  assert.equal(t.stats.retransmittedBytes, 45 + (r1.length - 20) + dupBytes);
  assert.equal(t.stats.requests, 3);
});

test('partial overlap: a retransmission that extends past what was seen delivers only the new bytes', () => {
  const conv = new Conv(CLIENT, SERVER).handshake();
  const s0 = conv.seq[0];
  const all = Buffer.from(REQ1 + REQ2, 'latin1');
  const seg = (from: number, to: number): TransportSegment => ({ ...conv.segs[0], flags: TCP_ACK, tsUs: conv.t += 1000, seq: (s0 + from) >>> 0, payload: all.subarray(from, to), payloadLen: to - from });
  conv.segs.push(seg(0, 40), seg(30, 90), seg(60, all.length), seg(0, all.length));
  const { r, t } = run(conv.segs);
  assert.deepEqual(r.requests.map((e) => e.req.uri), ['/index.html?q=1', '/api']);
  assert.equal(t.stats.retransmittedBytes, 10 + 30 + all.length);
  assert.equal(r.txs.length, 2);
  assert.ok(r.txs.every((x) => x.incomplete === 'no-response'));
});

test('sequence numbers wrapping around 2^32', () => {
  const ref = digest(run(keepAlive().segs).r) as any;
  for (const isn of [[0xffffffff - 10, 0xffffffff - 3], [0xffffff00, 0xfffffff0], [0xffffffff, 0xffffffff]] as [number, number][]) {
    const conv = keepAlive(isn, 17);
    const { r, t } = run(conv.segs);
    const d = digest(r) as any;
    assert.deepEqual(d.requests.map((x: any[]) => x.slice(3)), ref.requests.map((x: any[]) => x.slice(3)));
    assert.deepEqual(d.responses.map((x: any[]) => x.slice(4)), ref.responses.map((x: any[]) => x.slice(4)));
    assert.equal(t.stats.gaps, 0);
    assert.equal(t.stats.retransmittedBytes, 0);
    // out of order across the wrap point too
    const segs = conv.segs.slice();
    const i = segs.findIndex((s) => s.payload.length > 0 && s.sport === CLIENT.port);
    [segs[i], segs[i + 1]] = [segs[i + 1], segs[i]];
    assert.equal(run(segs).r.requests.length, 3);
  }
});

test('a lost body segment is a gap: counted, the transaction carries it, the next message still parses', () => {
  const body = 'x'.repeat(3000);
  const res = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`;
  const conv = new Conv(CLIENT, SERVER).handshake().c(REQ1).s(res + body.slice(0, 1000)).lose(1, body.slice(1000, 2000)).s(body.slice(2000))
    .c(REQ3).s(RES3).close();
  const { r, t } = run(conv.segs);
  assert.equal(t.stats.gaps, 1);
  assert.equal(t.stats.gapBytes, 1000);
  assert.deepEqual(r.txs.map((x) => [x.req?.uri, x.res?.status, x.incomplete]), [['/index.html?q=1', 200, undefined], ['/x', 404, undefined]]);
  // the gap is known (the client's next segment acknowledges past it) before the second request: not in its flight
  assert.equal(r.txs[1].gapBytes, 0);
  assert.equal(t.stats.parseErrors, 0);
});

test('a lost segment inside chunked framing resynchronises at the next message start', () => {
  const chunks = '10;ext=1\r\n0123456789abcdef\r\n' + '400\r\n' + 'y'.repeat(1024) + '\r\n0\r\n\r\n';
  const res = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
  const conv = new Conv(CLIENT, SERVER).handshake().c(REQ1).s(res + chunks.slice(0, 20)).lose(1, chunks.slice(20, 500)).s(chunks.slice(500))
    .c(REQ3).s(RES3).close();
  const { r, t } = run(conv.segs);
  assert.equal(t.stats.gapBytes, 480);
  assert.equal(t.stats.gaps, 1);
  assert.deepEqual(r.txs.map((x) => [x.reqId, x.res?.status]), [[1, 200], [2, 404]]);
});

test('a lost request: its response has no request, later ones pair correctly', () => {
  const conv = new Conv(CLIENT, SERVER).handshake().lose(0, REQ1).s(RES1).c(REQ2).s(RES2).close();
  const { r } = run(conv.segs);
  assert.deepEqual(r.txs.map((x) => [x.reqId, x.req?.uri, x.res?.status, x.incomplete]), [[1, undefined, 200, 'no-request'], [2, '/api', 201, undefined]]);
});

test('pipelining: three requests in one segment, three responses in one segment', () => {
  const conv = new Conv(CLIENT, SERVER).handshake().c(REQ1 + REQ2 + REQ3).s(RES1 + RES2 + RES3).close();
  const { r } = run(conv.segs);
  assert.deepEqual(r.requests.map((e) => e.req.uri), ['/index.html?q=1', '/api', '/x']);
  assert.deepEqual(r.txs.map((x) => [x.reqId, x.req?.uri, x.res?.status]), [[1, '/index.html?q=1', 200], [2, '/api', 201], [3, '/x', 404]]);
  assert.ok(r.txs.every((x) => x.latencyMs === 1));
});

test('Expect: 100-continue: interim then final, request body after the 100', () => {
  const head = 'PUT /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n';
  const conv = new Conv(CLIENT, SERVER).handshake().c(head).s('HTTP/1.1 100 Continue\r\n\r\n').c('0123456789')
    .s('HTTP/1.1 204 No Content\r\n\r\n').c(REQ3).s(RES3).close();
  const { r } = run(conv.segs);
  assert.deepEqual(r.responses.map((e) => [e.reqId, e.res.status]), [[1, 100], [1, 204], [2, 404]]);
  const tx = r.txs[0];
  assert.deepEqual(tx.interim.map((h) => h.status), [100]);
  assert.equal(tx.res?.status, 204);
  assert.equal(tx.reqBodyBytes, 10);
  assert.equal(r.txs.length, 2);
  // and without waiting for a 100
  const conv2 = new Conv(CLIENT, SERVER).handshake().c(head + '0123456789').s('HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n').close();
  const r2 = run(conv2.segs).r;
  assert.deepEqual(r2.txs.map((x) => [x.res?.status, x.interim.length, x.reqBodyBytes]), [[201, 0, 10]]);
});

test('HEAD response with Content-Length has no body; 204 and 304 neither', () => {
  const conv = new Conv(CLIENT, SERVER).handshake()
    .c('HEAD /big HTTP/1.1\r\nHost: h\r\n\r\n').s('HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n')
    .c('GET /a HTTP/1.1\r\nHost: h\r\n\r\n').s('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n')
    .c('GET /b HTTP/1.1\r\nHost: h\r\nIf-None-Match: "x"\r\n\r\n').s('HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n')
    .c(REQ1).s(RES1).close();
  const { r, t } = run(conv.segs);
  assert.deepEqual(r.txs.map((x) => [x.req?.uri, x.res?.status, x.res?.contentLength]), [['/big', 200, 99999], ['/a', 204, 5], ['/b', 304, 1234], ['/index.html?q=1', 200, 12]]);
  assert.equal(t.stats.parseErrors, 0);
});

test('chunked response with extensions and trailers, split at every boundary', () => {
  const res = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nTrailer: X-Sum\r\n\r\n' +
    '4;name=value;q="a b"\r\nabcd\r\n' + 'A \r\n0123456789\r\n' + '0;last\r\nX-Sum: 42\r\nX-More: y\r\n\r\n';
  const after = RES2;
  for (let cut = 1; cut < res.length; cut++) {
    const conv = new Conv(CLIENT, SERVER).handshake().c(REQ1 + REQ2).s(res + after, 1448, [cut, Math.min(cut + 3, res.length + after.length - 1)]).close();
    const { r, t } = run(conv.segs);
    assert.deepEqual(r.txs.map((x) => [x.reqId, x.res?.status, x.res?.chunked]), [[1, 200, true], [2, 201, false]], `cut ${cut}`);
    assert.equal(t.stats.parseErrors, 0);
  }
});

test('response without length is read until close; its body is never parsed as a message', () => {
  const body = 'HTTP/1.1 500 Fake\r\n\r\nGET /fake HTTP/1.1\r\n\r\n';
  const conv = new Conv(CLIENT, SERVER).handshake().c('GET /old HTTP/1.0\r\n\r\n').s('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n').s(body).fin(1).fin(0);
  const { r, t } = run(conv.segs);
  assert.equal(r.responses.length, 1);
  assert.equal(r.txs.length, 1);
  assert.equal(r.txs[0].res?.version, 'HTTP/1.0');
  assert.equal(t.stats.responses, 1);
});

test('mid-stream start: a response without a request, client decided by port', () => {
  const conv = new Conv(CLIENT, SERVER);
  conv.s('lo world\n'); // tail of an earlier body
  conv.s(RES2).c(REQ3).s(RES3).close();
  const { r } = run(conv.segs);
  assert.deepEqual(r.txs.map((x) => [x.reqId, x.req?.uri, x.res?.status, x.incomplete]), [[1, undefined, 201, 'no-request'], [2, '/x', 404, undefined]]);
  assert.equal(r.txs[0].conn.decidedBy, 'port');
  assert.equal(r.txs[0].conn.clientIp, CLIENT.ip);
});

test('request without response at finish() is flushed as no-response', () => {
  const conv = new Conv(CLIENT, SERVER).handshake().c(REQ1).s(RES1).c(REQ2);
  const { r, t } = run(conv.segs, {}, false);
  assert.equal(r.txs.length, 1);
  assert.equal(t.stats.activeConnections, 1);
  t.finish();
  assert.deepEqual(r.txs.map((x) => [x.reqId, x.req?.uri, x.res?.status, x.incomplete]), [[1, '/index.html?q=1', 200, undefined], [2, '/api', undefined, 'no-response']]);
  assert.equal(t.stats.activeConnections, 0);
});

test('RST in the middle of a request body: transaction incomplete "reset"; RST mid response body: "partial-body"', () => {
  const head = 'POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n';
  const conv = new Conv(CLIENT, SERVER).handshake().c(head + 'z'.repeat(2000)).rst(0);
  const { r, t } = run(conv.segs, {}, false);
  assert.deepEqual(r.txs.map((x) => [x.req?.uri, x.incomplete, x.reqBodyBytes]), [['/up', 'reset', 2000]]);
  assert.equal(t.stats.activeConnections, 0);
  const conv2 = new Conv(CLIENT, SERVER).handshake().c(REQ1).s('HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n' + 'q'.repeat(100)).rst(1);
  const r2 = run(conv2.segs, {}, false);
  assert.equal(r2.r.txs.length, 1);
  assert.equal(r2.r.txs[0].res?.status, 200);
  assert.equal(r2.r.txs[0].incomplete, 'partial-body');
  assert.equal(r2.r.txs[0].resBodyBytes, 100);
  assert.equal(r2.t.stats.activeConnections, 0);
});

test('snaplen-truncated payloads: whole heads kept, cut bodies skipped, cut header fields left out', () => {
  const bodyRes = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1400\r\n\r\n' + 'b'.repeat(1400);
  const longReq = 'GET /long HTTP/1.1\r\nHost: example.com\r\nUser-Agent: ' + 'U'.repeat(300) + '\r\nAccept: */*\r\n\r\n';
  const conv = new Conv(CLIENT, SERVER).handshake().c(REQ1).truncated(1, bodyRes, 96)
    .truncated(0, longReq, 60).s(RES2).c(REQ3).s(RES3).close();
  const { r, t } = run(conv.segs);
  assert.deepEqual(r.txs.map((x) => [x.req?.uri, x.res?.status, x.incomplete]), [['/index.html?q=1', 200, undefined], ['/long', 201, undefined], ['/x', 404, undefined]]);
  const cut = r.requests[1].req;
  assert.equal(cut.host, 'example.com');
  assert.equal(cut.userAgent, undefined, 'the cut User-Agent is left out');
  assert.deepEqual(cut.headers, [['Host', 'example.com']]);
  assert.equal(t.stats.gapBytes, bodyRes.length - 96 + longReq.length - 60);
  assert.equal(r.responses[0].res.contentType, 'text/plain');
});

test('CQ vs SQ from localAddrs; loopback is CQ', () => {
  const remoteSrv: Ep = { ip: '93.184.216.34', port: 80 };
  const me: Ep = { ip: '10.0.0.1', port: 51000 };
  const sq = run(new Conv(me, remoteSrv).handshake().c(REQ1).s(RES1).close().segs).r;
  assert.equal(sq.txs[0].conn.kind, 'SQ');
  assert.equal(sq.txs[0].conn.serverIp, remoteSrv.ip);
  const cq = run(new Conv(CLIENT, SERVER).handshake().c(REQ1).s(RES1).close().segs).r;
  assert.equal(cq.txs[0].conn.kind, 'CQ');
  const lo = run(new Conv({ ip: '127.0.0.1', port: 40001 }, { ip: '127.0.0.1', port: 8080 }).handshake().c(REQ1).s(RES1).close().segs,
    { localAddrs: new Set(['127.0.0.1', '::1']), servicePorts: 'any' }).r;
  assert.equal(lo.txs[0].conn.kind, 'CQ');
  assert.equal(lo.txs[0].conn.clientPort, 40001);
  const v6 = run(new Conv({ ip: '2001:db8::2', port: 40002 }, { ip: '::1', port: 80 }).handshake().c(REQ1).s(RES1).close().segs,
    { localAddrs: new Set(['::1']) }).r;
  assert.equal(v6.txs[0].conn.kind, 'CQ');
  assert.equal(v6.txs[0].conn.family, 6);
});

test('client side decided by syn, then port, then content', () => {
  // both ports are service ports and the "client" uses the lower port: only the SYN tells
  const a: Ep = { ip: '10.0.0.1', port: 80 };
  const b: Ep = { ip: '10.0.0.2', port: 8080 };
  const bySyn = run(new Conv(b, a).handshake().c(REQ1).s(RES1).close().segs, { servicePorts: new Set([80, 8080]) }).r;
  assert.equal(bySyn.txs[0].conn.decidedBy, 'syn');
  assert.equal(bySyn.txs[0].conn.clientIp, '10.0.0.2');
  // SYN-ACK only (capture started after the SYN)
  const synAck = new Conv(b, a).handshake();
  synAck.segs.shift();
  const bySynAck = run(synAck.c(REQ1).s(RES1).close().segs, { servicePorts: new Set([80, 8080]) }).r;
  assert.equal(bySynAck.txs[0].conn.decidedBy, 'syn');
  assert.equal(bySynAck.txs[0].conn.clientIp, '10.0.0.2');
  // no handshake, one service port: even when the server speaks first
  const byPort = run(new Conv(CLIENT, SERVER).s(RES2).c(REQ1).s(RES1).close().segs).r;
  assert.equal(byPort.txs[0].conn.decidedBy, 'port');
  assert.equal(byPort.txs[0].conn.clientIp, CLIENT.ip);
  // no handshake, ports do not tell: who sends a request line first
  const byContent = run(new Conv(b, a).c(REQ1).s(RES1).close().segs, { servicePorts: 'any' }).r;
  assert.equal(byContent.txs[0].conn.decidedBy, 'content');
  assert.equal(byContent.txs[0].conn.clientIp, '10.0.0.2');
  assert.equal(byContent.txs[0].conn.serverPort, 80);
});

test('connIds count HTTP connections in order of their first message; non-HTTP streams are counted and dropped', () => {
  const tls = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
  const c1 = new Conv({ ip: '192.0.2.1', port: 1111 }, SERVER).handshake();
  const c2 = new Conv({ ip: '192.0.2.2', port: 2222 }, { ip: '10.0.0.1', port: 443 }).handshake().c(tls).s(tls).c('GET / HTTP/1.1\r\n\r\n');
  const c3 = new Conv({ ip: '192.0.2.3', port: 3333 }, SERVER).handshake().c(REQ1).s(RES1);
  c1.c(REQ2).s(RES2);
  const segs = [...c1.segs.slice(0, 3), ...c2.segs, ...c3.segs, ...c1.segs.slice(3)];
  const udp: TransportSegment = { ...c1.segs[0], proto: 17, payload: Buffer.from('x'), payloadLen: 1 };
  const { r, t } = run([...segs, udp]);
  assert.deepEqual(r.requests.map((e) => [e.conn.connId, e.conn.clientPort]), [[1, 3333], [2, 1111]]);
  assert.equal(t.stats.nonHttp, 2, 'the TLS connection and the UDP datagram');
  assert.equal(t.stats.connections, 3);
});

test('tick() expires idle connections with incomplete "timeout"', () => {
  const conv = new Conv(CLIENT, SERVER).handshake().c(REQ1);
  const { r, t } = run(conv.segs, { idleTimeoutMs: 1000 }, false);
  const last = conv.segs[conv.segs.length - 1].tsUs;
  t.tick(last + 500_000);
  assert.equal(r.txs.length, 0);
  t.tick(last + 2_000_000);
  assert.deepEqual(r.txs.map((x) => [x.req?.uri, x.incomplete]), [['/index.html?q=1', 'timeout']]);
  assert.equal(t.stats.activeConnections, 0);
});

test('the connection table bound evicts the least recently used and counts it', () => {
  const convs = [1, 2, 3].map((i) => new Conv({ ip: `192.0.2.${i}`, port: 1000 + i }, SERVER).handshake().c(REQ1));
  const r = new Recorder();
  const t = new HttpTracker({ reassembly: true, servicePorts: new Set([80]), localAddrs: LOCAL, maxConnections: 2 }, r);
  for (const s of convs[0].segs) t.onSegment(s);
  for (const s of convs[1].segs) t.onSegment(s);
  assert.equal(t.stats.evicted, 0);
  for (const s of convs[2].segs) t.onSegment(s);
  assert.equal(t.stats.evicted, 1);
  assert.equal(t.stats.activeConnections, 2);
  assert.deepEqual(r.txs.map((x) => [x.conn.clientPort, x.incomplete]), [[1001, 'evicted']]);
});

test('out-of-order data beyond the buffer bound: the hole is skipped and reported', () => {
  const body = 'k'.repeat(6000);
  const res = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`;
  const conv = new Conv(CLIENT, SERVER).handshake().c(REQ1).s(res).lose(1, body.slice(0, 1000)).s(body.slice(1000), 1000).c(REQ3).s(RES3).close();
  const { r, t } = run(conv.segs, { maxBufferBytes: 2500 });
  assert.equal(t.stats.gaps, 1);
  assert.equal(t.stats.gapBytes, 1000);
  assert.deepEqual(r.txs.map((x) => x.res?.status), [200, 404]);
});

test('a hole before FIN is reported when the connection closes', () => {
  const conv = new Conv(CLIENT, SERVER).handshake().c(REQ1).lose(1, 'HTTP/1.1 200 OK\r\n').s('Content-Length: 0\r\n\r\n').close();
  const { r, t } = run(conv.segs, {}, false);
  assert.equal(t.stats.gapBytes, 17);
  assert.deepEqual(r.txs.map((x) => [x.req?.uri, x.incomplete, x.gapBytes]), [['/index.html?q=1', 'gap', 17]]);
  assert.equal(t.stats.activeConnections, 0);
});

test('a new SYN on a used 4-tuple starts a new connection', () => {
  const c1 = new Conv(CLIENT, SERVER).handshake().c(REQ1);
  const c2 = new Conv(CLIENT, SERVER, [777777, 888888], c1.t + 1000).handshake().c(REQ2).s(RES2);
  const { r } = run([...c1.segs, ...c2.segs]);
  assert.deepEqual(r.txs.map((x) => [x.conn.connId, x.req?.uri, x.incomplete]), [[1, '/index.html?q=1', 'no-response'], [2, '/api', undefined]]);
});

test('101 Switching Protocols and CONNECT tunnels stop HTTP parsing of the connection', () => {
  const ws = new Conv(CLIENT, SERVER).handshake().c('GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
    .s('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n').c('GET /not-http HTTP/1.1\r\n\r\n').s('HTTP/1.1 200 no\r\n\r\n').close();
  const a = run(ws.segs);
  assert.deepEqual(a.r.txs.map((x) => [x.res?.status, x.incomplete]), [[101, undefined]]);
  assert.equal(a.r.requests.length, 1);
  assert.equal(a.t.stats.parseErrors, 0);
  const tun = new Conv(CLIENT, { ip: '10.0.0.1', port: 3128 }).handshake().c('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n')
    .s('HTTP/1.1 200 Connection established\r\n\r\n').c(Buffer.from([0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5])).close();
  const b = run(tun.segs, { servicePorts: new Set([3128]) });
  assert.equal(b.r.requests[0].req.uri, 'example.com:443');
  assert.equal(b.r.txs.length, 1);
  assert.equal(b.t.stats.parseErrors, 0);
});

// ---------- no-reassembly mode ----------

test('no-reassembly mode logs the same fields as reassembly mode for simple traffic', () => {
  const segs = keepAlive().segs;
  // body bytes are not followed without reassembly: compare everything else
  const noBody = (r: Recorder): Recorder => {
    for (const x of r.txs) x.reqBodyBytes = 0;
    return r;
  };
  const a = digest(noBody(run(segs).r));
  const b = digest(run(segs, { reassembly: false }).r);
  assert.deepEqual(b, a);
  assert.equal((a as any).requests.length, 3);
  const pipelined = new Conv(CLIENT, SERVER).handshake().c(REQ1 + REQ2 + REQ3).s(RES1 + RES2 + RES3).close().segs;
  assert.deepEqual(digest(run(pipelined, { reassembly: false }).r), digest(noBody(run(pipelined).r)));
});

test('no-reassembly mode leaves out cut fields and parses only segments that begin a message', () => {
  const longReq = 'GET /long HTTP/1.1\r\nHost: example.com\r\nUser-Agent: ' + 'U'.repeat(2000) + '\r\nAccept: */*\r\n\r\n';
  const conv = new Conv(CLIENT, SERVER).handshake().c(longReq).s(RES1).close();
  const { r, t } = run(conv.segs, { reassembly: false });
  const q = r.requests[0].req;
  assert.equal(q.uri, '/long');
  assert.equal(q.host, 'example.com');
  assert.equal(q.userAgent, undefined);
  assert.deepEqual(q.headers, [['Host', 'example.com']]);
  assert.equal(r.txs.length, 1);
  assert.equal(r.txs[0].res?.status, 200);
  assert.equal(t.stats.parseErrors, 0);
  // a request line cut by the segment: the captured part of the target, no version
  const conv2 = new Conv(CLIENT, SERVER).handshake().truncated(0, 'GET /a/very/long/path HTTP/1.1\r\nHost: x\r\n\r\n', 12).s(RES2).close();
  const r2 = run(conv2.segs, { reassembly: false }).r;
  assert.deepEqual([r2.requests[0].req.method, r2.requests[0].req.uri, r2.requests[0].req.version], ['GET', '/a/very/', '']);
  assert.equal(r2.txs[0].res?.status, 201);
});

test('no-reassembly mode ignores retransmitted message starts', () => {
  const conv = new Conv(CLIENT, SERVER).handshake().c(REQ1);
  conv.segs.push({ ...conv.segs[3], tsUs: conv.t += 1000 });
  conv.s(RES1).close();
  const { r, t } = run(conv.segs, { reassembly: false });
  assert.equal(r.requests.length, 1);
  assert.equal(t.stats.retransmittedBytes, REQ1.length);
  assert.equal(r.txs[0].incomplete, undefined);
});


test('transactions carry the response body size: Content-Length, chunked, HEAD, until close', () => {
  const conv = new Conv(CLIENT, SERVER).handshake()
    .c('GET /a HTTP/1.1\r\nHost: h\r\n\r\n').s('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello')
    .c('GET /b HTTP/1.1\r\nHost: h\r\n\r\n').s('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\n\r\n')
    .c('HEAD /c HTTP/1.1\r\nHost: h\r\n\r\n').s('HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n')
    .c('GET /d HTTP/1.1\r\nHost: h\r\n\r\n').s('HTTP/1.1 200 OK\r\n\r\n' + 'x'.repeat(1234))
    .close();
  const { r } = run(conv.segs, {}, false);
  assert.deepEqual(
    r.txs.map((x) => [x.req?.uri, x.res?.status, x.resBodyBytes, x.incomplete]),
    [['/a', 200, 5, undefined], ['/b', 200, 7, undefined], ['/c', 200, 0, undefined], ['/d', 200, 1234, undefined]],
  );
  // the text lines do not wait for bodies: every response line is out before the transactions end
  assert.equal(r.responses.length, 4);
});

test('req_seq, resp_seq, l7_trace_id and conn_trace_id are the TCP sequence numbers of each message\'s first byte', async () => {
  const { toHttpRecord } = await import('../../src/sinks/schema.js');
  const isn: [number, number] = [0xfffffff0, 123456]; // the client's sequence space wraps inside the first request
  const conv = new Conv(CLIENT, SERVER, isn).handshake().c(REQ1, 7).s(RES1).c(REQ2).s(RES2).lose(0, 'lost!').c(REQ3).s(RES3).close();
  const recs = run(conv.segs).r.txs.map((x) => toHttpRecord(x));
  const c0 = (isn[0] + 1) >>> 0, s0 = (isn[1] + 1) >>> 0;
  const len = (x: string): number => Buffer.byteLength(x, 'latin1');
  const want = [
    [c0, s0],
    [(c0 + len(REQ1)) >>> 0, (s0 + len(RES1)) >>> 0],
    [(c0 + len(REQ1) + len(REQ2) + 5) >>> 0, (s0 + len(RES1) + len(RES2)) >>> 0], // 5 lost bytes still take sequence space
  ];
  assert.deepEqual(recs.map((r) => [r.req_seq, r.resp_seq]), want);
  assert.deepEqual(recs.map((r) => r.l7_trace_id), want.map(([q, s]) => `${q}_${s}`));
  for (const r of recs) assert.equal(r.conn_trace_id, `${isn[0]}_${isn[1]}`);
  // picked up mid-way: sequence numbers from the first segment seen, no handshake so no connection id
  const mid = new Conv(CLIENT, SERVER, [7000, 9000]).c(REQ1).s(RES1);
  const m = run(mid.segs).r.txs.map((x) => toHttpRecord(x));
  assert.deepEqual(m.map((r) => [r.req_seq, r.resp_seq, r.conn_trace_id]), [[7000, 9000, null]]);
  // httplog mode reads no stream: no sequence numbers
  const nr = run(new Conv(CLIENT, SERVER).handshake().c(REQ1).s(RES1).close().segs, { reassembly: false }).r.txs.map((x) => toHttpRecord(x));
  assert.deepEqual(nr.map((r) => [r.req_seq, r.resp_seq, r.l7_trace_id]), [[null, null, null]]);
});
