/**
 * The traced client when things fail: the trace must say which operation failed, when and why. Each failure is
 * made by a real server (nginx with the test CA, Node TCP servers that stay silent or reset mid-body) and checked
 * against what that server saw.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Scope, runOk, waitFor } from '../helpers/proc.js';
import { makeTestPki, type TestPki } from '../helpers/tls.js';
import { startClientNginx, startNodeServer, type ClientNginx } from '../helpers/client-servers.js';
import { freePort } from '../helpers/nginx.js';
import { createTracedClient, withHTTPReqTrace, withSockTrace, type HTTPClientConfig } from '../../src/client/index.js';
import { TraceRecorder } from '../../src/client/trace.js';
import { resolveOptions } from '../../src/client/options.js';
import { Resolver } from '../../src/client/resolver.js';
import { beginDial, dialAddresses, type DialDeps } from '../../src/client/dialer.js';

const scope = new Scope();
let pki: TestPki;
let ng: ClientNginx;
let hostsPath: string;

before(async () => {
  pki = await makeTestPki(scope);
  ng = await startClientNginx(scope, pki);
  hostsPath = path.join(await scope.tempDir('wirelog-client-hosts-'), 'hosts');
  await writeFile(hostsPath, '127.0.0.1 localhost\n');
});
after(() => scope.close());

/** What the kernel says about connecting to addr:port (the independent view of "refused"). */
function probe(addr: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: addr, port });
    s.once('connect', () => { s.destroy(); resolve('connected'); });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** A server on 127.0.0.1 only that records the remote ports it accepted and answers every request with 204. */
async function portRecorder(): Promise<{ port: number; remotePorts: number[] }> {
  const remotePorts: number[] = [];
  const srv = await startNodeServer(scope, (s) => {
    remotePorts.push(s.remotePort!);
    s.on('data', () => s.write('HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n'));
  });
  return { port: srv.port, remotePorts };
}

test('dialer: addresses are tried in order, a refused one is recorded and the next one connects', async () => {
  const srv = await portRecorder();
  assert.equal(await probe('127.0.0.2', srv.port), 'ECONNREFUSED', 'nothing listens on 127.0.0.2');
  const rec = new TraceRecorder();
  const config: HTTPClientConfig = { hostsPath };
  const opts = resolveOptions([withSockTrace()]);
  const deps: DialDeps = { rec, opts, config, resolver: new Resolver({ rec, opts, config }) };
  const dial = beginDial(deps, 'multi.test', srv.port);
  const d = await dialAddresses(deps, dial, ['127.0.0.2', '127.0.0.1'], srv.port);
  await waitFor('server accepted', () => srv.remotePorts.length === 1);
  d.socket.destroy();

  assert.equal(rec.tcpConns.length, 2);
  const [refused, ok] = rec.tcpConns;
  assert.equal(refused!.addrTuple.dstIP, '127.0.0.2');
  assert.equal(refused!.connected, false);
  assert.ok(refused!.handshakeEndAt! >= refused!.handshakeBeginAt);
  assert.equal(ok!.addrTuple.dstIP, '127.0.0.1');
  assert.equal(ok!.connected, true);
  assert.ok(ok!.handshakeBeginAt >= refused!.handshakeEndAt!, 'the second attempt starts after the first failed');
  assert.equal(ok!.addrTuple.srcPort, srv.remotePorts[0]);
  assert.equal(dial.establishedConn, ok!.traceID);
  assert.equal(dial.dialErr, undefined);
  assert.equal(refused!.fromDial, dial.traceID);
  assert.equal(ok!.fromDial, dial.traceID);
});

test('dialer: every address refused → dialErr names each address and why', async () => {
  const port = await freePort();
  assert.equal(await probe('127.0.0.1', port), 'ECONNREFUSED');
  const rec = new TraceRecorder();
  const config: HTTPClientConfig = { hostsPath };
  const opts = resolveOptions([]);
  const deps: DialDeps = { rec, opts, config, resolver: new Resolver({ rec, opts, config }) };
  const dial = beginDial(deps, 'multi.test', port);
  await assert.rejects(dialAddresses(deps, dial, ['127.0.0.2', '127.0.0.1'], port), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'WL_ERR_DIAL');
    return true;
  });
  assert.match(dial.dialErr!, new RegExp(`127\\.0\\.0\\.2:${port}: .*ECONNREFUSED`));
  assert.match(dial.dialErr!, new RegExp(`127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  assert.deepEqual(rec.tcpConns.map((c) => [c.addrTuple.dstIP, c.connected]), [['127.0.0.2', false], ['127.0.0.1', false]]);
});

test('a name with two addresses (hosts file): refused on the first, the request succeeds on the second', async () => {
  const srv = await portRecorder();
  const hosts = path.join(await scope.tempDir('wirelog-client-hosts-'), 'hosts');
  await writeFile(hosts, '127.0.0.2 multi.test\n127.0.0.1 multi.test\n');
  const client = createTracedClient({ hostsPath: hosts }, withHTTPReqTrace());
  const r = await client.fetch(`http://multi.test:${srv.port}/`);
  assert.equal(r.status, 204);
  const { trace } = await client.getTrace('multi');
  await client.close();

  assert.equal(trace.dials.length, 1);
  assert.equal(trace.dials[0]!.dstAddress, `multi.test:${srv.port}`);
  assert.deepEqual(trace.tcpConns.map((c) => [c.addrTuple.dstIP, c.connected]), [['127.0.0.2', false], ['127.0.0.1', true]]);
  assert.equal(trace.dials[0]!.establishedConn, trace.tcpConns[1]!.traceID);
  assert.equal(trace.httpRequests[0]!.tcpConn, trace.tcpConns[1]!.traceID);
  assert.equal(trace.tcpConns[1]!.addrTuple.srcPort, srv.remotePorts[0]);
});

test('connection refused: the dial, the failed connection and the request all say so', async () => {
  const port = await freePort();
  assert.equal(await probe('127.0.0.1', port), 'ECONNREFUSED');
  const client = createTracedClient({ hostsPath }, withHTTPReqTrace());
  await assert.rejects(client.fetch(`http://127.0.0.1:${port}/x`));
  const { trace } = await client.getTrace('refused');
  await client.close();
  assert.equal(trace.dials.length, 1);
  assert.match(trace.dials[0]!.dialErr!, /ECONNREFUSED/);
  assert.equal(trace.dials[0]!.establishedConn, undefined);
  assert.equal(trace.tcpConns.length, 1);
  assert.equal(trace.tcpConns[0]!.connected, false);
  assert.match(trace.tcpConns[0]!.handshakeEndAt!, /^\+\d+ms$/);
  assert.match(trace.httpRequests[0]!.reqError!, /ECONNREFUSED/);
  assert.equal(trace.httpRequests[0]!.respStatusCode, 0);
  assert.ok(!('respRecvAt' in trace.httpRequests[0]!), 'no response: no respRecvAt');
});

test('TLS with an untrusted certificate: the certificate is in the trace, the handshake and the request failed', async () => {
  const before0 = (await ng.readAccessLog()).length;
  // no test CA: the system's roots do not know it
  const client = createTracedClient({ hostsPath }, withSockTrace(), withHTTPReqTrace());
  await assert.rejects(client.fetch(`https://localhost:${ng.tlsPort}/small.txt`));
  const { trace } = await client.getTrace('bad cert');
  await client.close();

  assert.equal(trace.tlsTunnels.length, 1);
  const [tls] = trace.tlsTunnels;
  assert.match(tls!.handshakeErr!, /certificate verification failed: (SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)/);
  assert.match(tls!.handshakeEndAt!, /^\+\d+ms$/);
  assert.equal(tls!.tcpConn, trace.tcpConns[0]!.traceID);
  const subject = (await runOk('openssl', ['x509', '-noout', '-subject', '-nameopt', 'RFC2253', '-in', pki.serverCert])).stdout.trim().replace(/^subject=/, '');
  const caSubject = (await runOk('openssl', ['x509', '-noout', '-subject', '-nameopt', 'RFC2253', '-in', pki.caCert])).stdout.trim().replace(/^subject=/, '');
  assert.deepEqual(tls!.peerCerts.map((c) => c.subject), [subject, caSubject]);
  assert.equal(tls!.serverName, 'localhost');
  const [req] = trace.httpRequests;
  assert.equal(req!.reqError, tls!.handshakeErr);
  assert.equal(req!.respStatusCode, 0);
  // the connection was closed by us, and the handshake bytes were recorded
  assert.match(trace.tcpConns[0]!.connCloseAt!, /^\+\d+ms$/);
  assert.ok(trace.tcpConns[0]!.totalRecvBytes > 0);
  assert.ok(trace.tcpConns[0]!.socketTrace!.socketOps.length > 0);
  // nginx served no request
  assert.equal((await ng.readAccessLog()).length, before0);
});

test('responseHeaderTimeout: the server accepted and read the request but never answered', async () => {
  let received = 0;
  let remotePort = 0;
  const srv = await startNodeServer(scope, (s) => {
    remotePort = s.remotePort!;
    s.on('data', (d: Buffer) => { received += d.length; });
  });
  const client = createTracedClient({ hostsPath, responseHeaderTimeout: 300 }, withSockTrace(), withHTTPReqTrace());
  await assert.rejects(client.fetch(`http://127.0.0.1:${srv.port}/slow`));
  const { trace } = await client.getTrace('header timeout');
  await client.close();

  const [req] = trace.httpRequests;
  assert.match(req!.reqError!, /Headers Timeout/i);
  assert.ok(!('respRecvAt' in req!), 'no response: no respRecvAt');
  assert.equal(req!.respStatusCode, 0);
  const conn = trace.tcpConns.find((c) => c.traceID === req!.tcpConn)!;
  assert.equal(conn.connected, true);
  assert.equal(conn.addrTuple.srcPort, remotePort);
  assert.equal(conn.totalSentBytes, received, 'the request the server read');
  assert.equal(conn.totalRecvBytes, 0);
});

test('a server that resets mid-body: the response head arrived, part of the body, then the reset', async () => {
  const half = 'x'.repeat(700);
  let written = 0;
  const srv = await startNodeServer(scope, (s) => {
    s.once('data', () => {
      const head = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1400\r\n\r\n';
      s.write(head + half, () => {
        written = s.bytesWritten;
        setTimeout(() => s.resetAndDestroy(), 50);
      });
    });
  });
  const client = createTracedClient({ hostsPath }, withSockTrace(), withHTTPReqTrace());
  const resp = await client.fetch(`http://127.0.0.1:${srv.port}/half`);
  assert.equal(resp.status, 200);
  await assert.rejects(resp.text());
  const { trace } = await client.getTrace('reset');
  await client.close();

  const [req] = trace.httpRequests;
  assert.equal(req!.respStatusCode, 200);
  assert.match(req!.respRecvAt!, /^\+\d+ms$/);
  assert.match(req!.reqError!, /ECONNRESET/);
  assert.equal(req!.RespContentLen, half.length);
  const conn = trace.tcpConns[0]!;
  assert.equal(conn.totalRecvBytes, written, 'every byte the server wrote before the reset');
  assert.match(conn.connCloseAt!, /^\+\d+ms$/);
  const ops = conn.socketTrace!.socketOps;
  const last = ops[ops.length - 1]!;
  assert.equal(last.type, 'read');
  assert.match(last.returnErr ?? '', /ECONNRESET/);
  assert.equal(last.dataLen, 0);
});

test('tlsHandshakeTimeout: the server took the ClientHello and never answered', async () => {
  let received = 0;
  const srv = await startNodeServer(scope, (s) => { s.on('data', (d: Buffer) => { received += d.length; }); });
  const client = createTracedClient({ hostsPath, tlsHandshakeTimeout: 300 }, withHTTPReqTrace());
  await assert.rejects(client.fetch(`https://localhost:${srv.port}/`));
  const { trace } = await client.getTrace('tls timeout');
  await client.close();

  const [tls] = trace.tlsTunnels;
  assert.match(tls!.handshakeErr!, /timed out after 300 ms/);
  assert.deepEqual(tls!.peerCerts, []);
  assert.equal(trace.tcpConns[0]!.totalSentBytes, received, 'the ClientHello the server got');
  assert.ok(received > 0);
  assert.match(trace.httpRequests[0]!.reqError!, /TLS handshake with localhost timed out/);
});

test('tcpHandshakeTimeout: a listener whose accept queue is full drops the SYN; the attempt times out', async () => {
  // a listener that never accepts, backlog 0: one connection fills its queue, Linux drops the SYNs after that
  const py = 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)\n';
  const proc = scope.spawn('python3', ['-c', py]);
  const port = Number((await proc.waitForLine('stdout', /^\d+$/)).trim());
  const filler = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { filler.once('connect', resolve); filler.once('error', reject); });
  scope.defer('close filler', () => { filler.destroy(); });
  assert.equal(await Promise.race([probe('127.0.0.1', port), new Promise<string>((r) => setTimeout(() => r('no answer'), 1000))]),
    'no answer', 'the kernel drops further SYNs');

  const client = createTracedClient({ hostsPath, tcpHandshakeTimeout: 300 }, withHTTPReqTrace());
  await assert.rejects(client.fetch(`http://127.0.0.1:${port}/`));
  const { trace } = await client.getTrace('syn dropped');
  await client.close();
  const [conn] = trace.tcpConns;
  assert.equal(conn!.connected, false);
  assert.match(trace.dials[0]!.dialErr!, new RegExp(`TCP handshake with 127\\.0\\.0\\.1:${port} timed out after 300 ms`));
  assert.match(trace.httpRequests[0]!.reqError!, /timed out after 300 ms/);
  assert.match(conn!.handshakeEndAt!, /^\+\d+ms$/);
});

test('reqTimeout: the whole request is aborted; the trace says the request was aborted by the timeout', async () => {
  const srv = await startNodeServer(scope, () => undefined);
  const client = createTracedClient({ hostsPath, reqTimeout: 300 }, withHTTPReqTrace());
  await assert.rejects(client.fetch(`http://127.0.0.1:${srv.port}/never`), (e: Error) => {
    assert.equal(e.name, 'TimeoutError');
    return true;
  });
  const { trace } = await client.getTrace('req timeout');
  await client.close();
  const [req] = trace.httpRequests;
  assert.match(req!.reqError!, /timeout/i);
  assert.ok(!('respRecvAt' in req!), 'no response: no respRecvAt');
  assert.equal(trace.tcpConns[0]!.connected, true, 'the connection was made; the answer never came');
  assert.equal(req!.tcpConn, trace.tcpConns[0]!.traceID);
});
