/**
 * The traced client's record model: nettrace's JSON shapes and timestamps (../shared/seeds/nettrace-godoc.txt),
 * the socket operation recorder on real loopback sockets, and connection reuse across clearTrace().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import dgram from 'node:dgram';
import { once } from 'node:events';
import {
  TraceRecorder, absTimestamp, certTimestamp, relTimestamp, newTraceId, nowMs, type TcpConnTrace, type UdpConnTrace,
} from '../../src/client/trace.js';
import { OpRecorder, recordNetSocket, recordDgram, RecordedStream } from '../../src/client/socket-trace.js';

test('timestamps: relative whole ms, absolute before the trace, none when unset', () => {
  const begin = Date.UTC(2022, 11, 23, 9, 17, 45) + 260.618344;
  assert.equal(relTimestamp(begin + 72.9, begin), '+72ms');
  assert.equal(relTimestamp(begin, begin), '+0ms');
  assert.equal(relTimestamp(undefined, begin), undefined);
  // before the trace began: absolute, as Go prints time.Time (RFC 3339, nanoseconds, local offset)
  const abs = relTimestamp(begin - 1000, begin)!;
  assert.match(abs, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d)$/);
  assert.equal(new Date(abs).getTime(), Math.floor(begin - 1000));
  assert.equal(certTimestamp(Date.UTC(2022, 10, 28, 8, 19, 1)), '2022-11-28T08:19:01Z');
  const s = absTimestamp(begin);
  // epoch ms as a double keeps microseconds, not nanoseconds
  assert.match(s, /\.260618\d{3}(Z|[+-]\d\d:\d\d)$/);
});

test('trace ids are tid-N, unique, in hex like the seed (tid-a, tid-b)', () => {
  const ids = new Set(Array.from({ length: 50 }, () => newTraceId()));
  assert.equal(ids.size, 50);
  for (const id of ids) assert.match(id, /^tid-[0-9a-f]+$/);
});

function tcpConn(rec: TraceRecorder): TcpConnTrace {
  const c: TcpConnTrace = {
    traceID: newTraceId(), fromDial: 'tid-x', handshakeBeginAt: nowMs(), connected: false, reused: false,
    addrTuple: { srcIP: '', srcPort: 0, dstIP: '', dstPort: 0 }, totalSentBytes: 0, totalRecvBytes: 0,
  };
  rec.tcpConns.push(c);
  return c;
}

test('socket ops of a real TCP exchange: writes to their callback, reads, EOF; totals match both ends', async () => {
  const got: number[] = [];
  const server = net.createServer((s) => {
    s.on('data', (d) => { got.push(d.length); s.write(Buffer.alloc(d.length * 2, 1)); });
    s.on('end', () => s.end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const rec = new TraceRecorder();
  const conn = tcpConn(rec);
  const sock = new net.Socket();
  const ops = new OpRecorder(conn, rec, true);
  recordNetSocket(sock, ops);
  sock.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  ops.readyToRead();
  let recv = 0;
  sock.on('data', (d) => { recv += d.length; });
  sock.write('hello');
  while (recv < 10) await once(sock, 'data');
  sock.write('0123456789');
  while (recv < 30) await once(sock, 'data');
  sock.end();
  await once(sock, 'close');
  server.close();
  assert.equal(conn.totalSentBytes, 15);
  assert.equal(conn.totalRecvBytes, 30);
  assert.equal(got.reduce((a, b) => a + b, 0), 15, 'server saw what the trace says was sent');
  const o = conn.socketOps!;
  assert.deepEqual(o.filter((x) => x.type === 'write').map((x) => x.dataLen), [5, 10]);
  assert.equal(o.filter((x) => x.type === 'read' && !x.returnErr).reduce((a, x) => a + x.dataLen, 0), 30);
  const last = o[o.length - 1];
  assert.equal(last.type, 'read');
  assert.equal(last.returnErr, 'EOF');
  for (const x of o) assert.ok(x.returnAt >= x.callAt, 'an operation returns after it was called');
  assert.ok(conn.connCloseAt !== undefined);
});

test('RecordedStream: a Duplex over a socket records the raw bytes both ways', async () => {
  const server = net.createServer((s) => s.pipe(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const rec = new TraceRecorder();
  const conn = tcpConn(rec);
  const raw = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(raw, 'connect');
  const ops = new OpRecorder(conn, rec, true);
  const st = new RecordedStream(raw, ops);
  let n = 0;
  st.on('data', (d: Buffer) => { n += d.length; });
  st.write(Buffer.alloc(3000, 7));
  while (n < 3000) await once(st, 'data');
  st.end();
  await once(raw, 'close');
  server.close();
  assert.equal(conn.totalSentBytes, 3000);
  assert.equal(conn.totalRecvBytes, 3000);
  assert.equal(conn.socketOps!.filter((x) => x.type === 'write').length, 1);
});

test('UDP: send and receive on a connected dgram socket are write and read ops', async () => {
  const peer = dgram.createSocket('udp4');
  peer.bind(0, '127.0.0.1');
  await once(peer, 'listening');
  peer.on('message', (m, r) => peer.send(Buffer.concat([m, m]), r.port, r.address));
  const rec = new TraceRecorder();
  const conn: UdpConnTrace = {
    traceID: newTraceId(), fromDial: 'tid-x', fromResolver: true, socketCreateAt: nowMs(),
    addrTuple: { srcIP: '', srcPort: 0, dstIP: '', dstPort: 0 }, totalSentBytes: 0, totalRecvBytes: 0,
  };
  rec.udpConns.push(conn);
  const s = dgram.createSocket('udp4');
  recordDgram(s, new OpRecorder(conn, rec, true));
  s.connect(peer.address().port, '127.0.0.1');
  await once(s, 'connect');
  s.send(Buffer.alloc(43));
  await once(s, 'message');
  s.close();
  peer.close();
  assert.deepEqual(conn.socketOps!.map((x) => [x.type, x.dataLen]), [['write', 43], ['read', 86]]);
  assert.equal(conn.totalSentBytes, 43);
  assert.equal(conn.totalRecvBytes, 86);
});

test('snapshot: nettrace key order and omitempty; clear() keeps open connections, which come back reused', () => {
  const rec = new TraceRecorder();
  rec.begin = nowMs() - 100;
  const c = tcpConn(rec);
  c.connected = true;
  c.handshakeEndAt = nowMs();
  c.socketOps = [];
  rec.dials.push({ traceID: 'tid-d', dialBeginAt: rec.begin + 1, dstAddress: 'x.test:443', resolverDials: [], skippedNameservers: [] });
  rec.tlsTunnels.push({ traceID: 'tid-t', tcpConn: c.traceID, handshakeBeginAt: rec.begin + 2, didResume: false, peerCerts: [], cipherSuite: 4865, serverName: 'x.test' });
  const j = rec.snapshot('first');
  assert.deepEqual(Object.keys(j), ['description', 'traceBeginAt', 'traceEndAt', 'dials', 'tcpConns', 'udpConns', 'dnsQueries', 'tlsTunnels', 'httpRequests']);
  assert.deepEqual(Object.keys(j.tcpConns[0]), ['traceID', 'fromDial', 'handshakeBeginAt', 'handshakeEndAt', 'connected', 'addrTuple', 'reused', 'totalSentBytes', 'totalRecvBytes', 'socketTrace'], 'still open: no connCloseAt');
  c.connCloseAt = nowMs();
  assert.deepEqual(Object.keys(rec.snapshot('closed').tcpConns[0]), ['traceID', 'fromDial', 'handshakeBeginAt', 'handshakeEndAt', 'connected', 'connCloseAt', 'addrTuple', 'reused', 'totalSentBytes', 'totalRecvBytes', 'socketTrace']);
  c.connCloseAt = undefined;
  assert.deepEqual(Object.keys(j.dials[0]), ['traceID', 'dialBeginAt', 'dstAddress'], 'empty lists, sourceIP and times not reached yet omitted');
  assert.equal(j.dials[0].dialBeginAt, '+1ms');
  assert.equal((j.tlsTunnels[0] as Record<string, unknown>).negotiatedProto, undefined);

  rec.clear();
  let k = rec.snapshot('second');
  assert.equal(k.tcpConns.length, 0, 'a carried connection is not in the new trace until used');
  const ops = new OpRecorder(c, rec, true);
  ops.write(10)();
  k = rec.snapshot('second');
  assert.equal(k.tcpConns.length, 1);
  assert.equal(k.tcpConns[0].reused, true);
  assert.equal(k.tlsTunnels.length, 1, 'its TLS tunnel comes back with it');
  assert.match(k.tcpConns[0].handshakeBeginAt, /^\d{4}-/, 'a time before this trace is absolute');
  assert.equal(k.tcpConns[0].socketTrace!.socketOps.length, 1, 'only the operations since clearTrace');
});
