/**
 * The traced client through real proxies: tinyproxy (CONNECT) as an http:// proxy, and an https:// proxy made of
 * nginx's stream module terminating TLS in front of tinyproxy, so that TLS to the server runs inside TLS to the
 * proxy. Checked against tinyproxy's log (which tunnels it opened) and nginx's access log (what arrived).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Scope } from '../helpers/proc.js';
import { makeTestPki, type TestPki } from '../helpers/tls.js';
import { startClientNginx, type ClientNginx } from '../helpers/client-servers.js';
import { startTinyproxy, type Tinyproxy } from '../helpers/tinyproxy.js';
import { createTracedClient, withHTTPReqTrace, withSockTrace, type HTTPClientConfig } from '../../src/client/index.js';

const scope = new Scope();
let pki: TestPki;
let tp: Tinyproxy;
let ng: ClientNginx;
let hostsPath: string;

before(async () => {
  pki = await makeTestPki(scope);
  tp = await startTinyproxy(scope);
  ng = await startClientNginx(scope, pki, { tlsProxyTarget: tp.port });
  hostsPath = path.join(await scope.tempDir('wirelog-client-hosts-'), 'hosts');
  await writeFile(hostsPath, '127.0.0.1 localhost\n');
});
after(() => scope.close());

function cfg(proxy: string | undefined, extra: HTTPClientConfig = {}): HTTPClientConfig {
  return { tls: { ca: pki.caPem }, hostsPath, proxy: () => proxy, ...extra };
}

test('http:// proxy, https target: CONNECT through tinyproxy, TLS to the server over the proxy connection', async () => {
  const log0 = (await ng.readAccessLog()).length;
  const tun0 = (await tp.connectTargets()).length;
  const proxy = `http://127.0.0.1:${tp.port}`;
  const client = createTracedClient(cfg(proxy, { preferHTTP2: true }), withSockTrace(), withHTTPReqTrace());
  const resp = await client.fetch(`https://localhost:${ng.tlsPort}/big.bin`);
  assert.deepEqual(Buffer.from(await resp.arrayBuffer()), ng.files['/big.bin']);
  const { trace } = await client.getTrace('via http proxy');
  await client.close();

  assert.deepEqual((await tp.connectTargets()).slice(tun0), [`localhost:${ng.tlsPort}`]);
  const [entry] = (await ng.waitForEntries(log0 + 1)).slice(log0);
  assert.equal(trace.dials.length, 1);
  assert.equal(trace.dials[0]!.dstAddress, `127.0.0.1:${tp.port}`, 'the dial goes to the proxy');
  const [conn] = trace.tcpConns;
  assert.equal(conn!.addrTuple.dstPort, tp.port);
  assert.notEqual(entry!.remote_port, conn!.addrTuple.srcPort, 'nginx saw the proxy, not us');
  assert.equal(trace.tlsTunnels.length, 1);
  const [tls] = trace.tlsTunnels;
  assert.equal(tls!.tcpConn, conn!.traceID);
  assert.equal(tls!.serverName, 'localhost');
  assert.equal(tls!.negotiatedProto, 'h2');
  const [req] = trace.httpRequests;
  assert.equal(req!.networkProxy, proxy);
  assert.equal(req!.tcpConn, conn!.traceID);
  assert.equal(req!.tlsTunnel, tls!.traceID);
  assert.equal(req!.proxyTLSTunnel, undefined);
  assert.equal(req!.protoMajor, 2);
  assert.equal(entry!.server_protocol, 'HTTP/2.0');
  assert.equal(req!.RespContentLen, entry!.body_bytes_sent);
  // the CONNECT exchange is the first write and the first read on the socket, in the clear
  const ops = conn!.socketTrace!.socketOps;
  assert.equal(ops[0]!.type, 'write');
  assert.equal(ops[0]!.dataLen, Buffer.byteLength(`CONNECT localhost:${ng.tlsPort} HTTP/1.1\r\nHost: localhost:${ng.tlsPort}\r\n\r\n`));
});

test('http:// proxy, http target: CONNECT too; the request on the tunnel is the same as a direct one', async () => {
  const log0 = (await ng.readAccessLog()).length;
  const tun0 = (await tp.connectTargets()).length;
  const client = createTracedClient(cfg(`http://127.0.0.1:${tp.port}`), withHTTPReqTrace());
  const resp = await client.fetch(`http://127.0.0.1:${ng.httpPort}/index.html`);
  assert.equal(await resp.text(), ng.files['/index.html']!.toString());
  const { trace } = await client.getTrace('plain via proxy');
  await client.close();

  assert.deepEqual((await tp.connectTargets()).slice(tun0), [`127.0.0.1:${ng.httpPort}`]);
  const [entry] = (await ng.waitForEntries(log0 + 1)).slice(log0);
  assert.equal(entry!.request_uri, '/index.html');
  assert.equal(trace.tlsTunnels.length, 0);
  assert.equal(trace.httpRequests[0]!.networkProxy, `http://127.0.0.1:${tp.port}`);
  assert.equal(trace.httpRequests[0]!.respStatusCode, entry!.status);
  assert.equal(trace.httpRequests[0]!.protoMajor, 1);
});

test('https:// proxy: TLS to the proxy, CONNECT, then TLS to the server inside it (TLS in TLS)', async () => {
  const log0 = (await ng.readAccessLog()).length;
  const tun0 = (await tp.connectTargets()).length;
  const proxy = `https://localhost:${ng.tlsProxyPort}`;
  const client = createTracedClient(cfg(proxy, { preferHTTP2: true }), withSockTrace(), withHTTPReqTrace());
  const resp = await client.fetch(`https://localhost:${ng.tlsPort}/small.txt`);
  assert.equal(await resp.text(), 'hello world\n');
  const { trace } = await client.getTrace('via https proxy');
  await client.close();

  assert.deepEqual((await tp.connectTargets()).slice(tun0), [`localhost:${ng.tlsPort}`]);
  const [entry] = (await ng.waitForEntries(log0 + 1)).slice(log0);
  assert.equal(entry!.request_uri, '/small.txt');
  assert.equal(trace.tcpConns.length, 1);
  const [conn] = trace.tcpConns;
  assert.equal(conn!.addrTuple.dstPort, ng.tlsProxyPort);
  assert.equal(trace.tlsTunnels.length, 2);
  const [outer, inner] = trace.tlsTunnels;
  const [req] = trace.httpRequests;
  assert.equal(req!.proxyTLSTunnel, outer!.traceID);
  assert.equal(req!.tlsTunnel, inner!.traceID);
  assert.equal(req!.networkProxy, proxy);
  assert.equal(outer!.tcpConn, conn!.traceID);
  assert.equal(inner!.tcpConn, conn!.traceID);
  assert.equal(outer!.peerCerts[0]!.subject, 'CN=localhost');
  assert.equal(inner!.negotiatedProto, 'h2');
  assert.equal(req!.protoMajor, 2);
  assert.equal(entry!.server_protocol, 'HTTP/2.0');
  // the inner handshake ends after the outer one
  const ms = (t: string): number => Number(/^\+(\d+)ms$/.exec(t)![1]);
  assert.ok(ms(inner!.handshakeBeginAt) >= ms(outer!.handshakeEndAt!));
  // the socket carries only the outer TLS: its first write is the ClientHello to the proxy (a TLS handshake record)
  assert.ok(conn!.socketTrace!.socketOps.length > 0);
  assert.equal(conn!.socketTrace!.socketOps[0]!.type, 'write');
});

test('proxy authentication: 407 without credentials names the proxy and its answer; userinfo credentials pass', async () => {
  const authed = await startTinyproxy(scope, { basicAuth: { user: 'wl', password: 'pw' } });
  const noCreds = createTracedClient(cfg(`http://127.0.0.1:${authed.port}`), withHTTPReqTrace());
  await assert.rejects(noCreds.fetch(`https://localhost:${ng.tlsPort}/small.txt`));
  const t1 = (await noCreds.getTrace('407')).trace;
  await noCreds.close();
  assert.match(t1.httpRequests[0]!.reqError!, new RegExp(`proxy http://127\\.0\\.0\\.1:${authed.port} answered CONNECT localhost:${ng.tlsPort} with 407`));
  assert.equal(t1.tlsTunnels.length, 0);

  const withCreds = createTracedClient(cfg(`http://wl:pw@127.0.0.1:${authed.port}`), withHTTPReqTrace());
  const resp = await withCreds.fetch(`https://localhost:${ng.tlsPort}/small.txt`);
  assert.equal(await resp.text(), 'hello world\n');
  const t2 = (await withCreds.getTrace('auth')).trace;
  await withCreds.close();
  assert.equal(t2.httpRequests[0]!.respStatusCode, 200);
  assert.deepEqual(await authed.connectTargets(), [`localhost:${ng.tlsPort}`, `localhost:${ng.tlsPort}`]);
});

test('the proxy callback decides per request: direct and proxied requests in one trace', async () => {
  const tun0 = (await tp.connectTargets()).length;
  const client = createTracedClient({
    tls: { ca: pki.caPem }, hostsPath,
    proxy: ({ url }) => (url.pathname === '/small.txt' ? `http://127.0.0.1:${tp.port}` : null),
  }, withHTTPReqTrace());
  await (await client.fetch(`https://localhost:${ng.tlsPort}/small.txt`)).text();
  await (await client.fetch(`https://localhost:${ng.tlsPort}/index.html`)).text();
  const { trace } = await client.getTrace('mixed');
  await client.close();
  assert.deepEqual((await tp.connectTargets()).slice(tun0), [`localhost:${ng.tlsPort}`]);
  assert.deepEqual(trace.httpRequests.map((r) => r.networkProxy), [`http://127.0.0.1:${tp.port}`, undefined]);
  assert.deepEqual(trace.dials.map((d) => d.dstAddress), [`127.0.0.1:${tp.port}`, `localhost:${ng.tlsPort}`]);
});
