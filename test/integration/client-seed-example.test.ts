/**
 * The "done when": the trace of a GET to an HTTPS URL by name reads like nettrace's example
 * (../shared/seeds/nettrace-godoc.txt), field for field. The name is resolved by dnsmasq on 127.0.0.53:53 (the
 * client reads a resolv.conf the test wrote), the server is nginx over TLS with the test CA, HTTP/2 by ALPN.
 *
 * Checked: every record kind the example has, with the example's keys in the example's order; the tid links
 * request → TCP connection → dial → resolver dials → UDP connections ← DNS queries, and TLS tunnel → TCP
 * connection; the values against independent views (dnsmasq's configuration and query log, nginx's access log,
 * the response body); time stamps in causal order. The trace is written to the test log as the example is.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Scope } from '../helpers/proc.js';
import { requirePrivileges } from '../helpers/privileged.js';
import { makeTestPki } from '../helpers/tls.js';
import { startDnsmasq } from '../helpers/dnsmasq.js';
import { startClientNginx } from '../helpers/client-servers.js';
import {
  createTracedClient, withSockTrace, withDNSQueryTrace, withHTTPReqTrace, withConntrack,
} from '../../src/client/index.js';

const scope = new Scope();
after(() => scope.close());

const NAME = 'www.wirelog.test';
const NS = '127.0.0.53';

/** "+72ms" → 72 */
function rel(ts: string | undefined): number {
  const m = /^\+(\d+)ms$/.exec(ts ?? '');
  assert.ok(m, `a relative time stamp: ${ts}`);
  return Number(m[1]);
}

test('GET https://NAME/ by name: the trace has the seed example\'s records, keys, links and values', async (t) => {
  if (!requirePrivileges(t, false)) return; // dnsmasq binds port 53
  const pki = await makeTestPki(scope);
  const ng = await startClientNginx(scope, pki);
  const dns = await startDnsmasq(scope, { address: NS, hostRecords: [[NAME, '127.0.0.1', '::1']], localDomains: ['test'], ttl: 227 });
  const dir = await scope.tempDir('wirelog-seed-');
  const resolvConfPath = path.join(dir, 'resolv.conf');
  const hostsPath = path.join(dir, 'hosts');
  await writeFile(resolvConfPath, `nameserver ${NS}\noptions timeout:2 attempts:1\n`);
  await writeFile(hostsPath, '127.0.0.1 localhost\n');

  const client = createTracedClient(
    { preferHTTP2: true, tls: { ca: pki.caPem }, resolvConfPath, hostsPath, reqTimeout: 20_000 },
    withConntrack(), withSockTrace(), withDNSQueryTrace(), withHTTPReqTrace({ headerFields: 'disabled' }),
  );
  const url = `https://${NAME}:${ng.tlsPort}/`;
  const resp = await client.fetch(url);
  const body = Buffer.from(await resp.arrayBuffer());
  await client.close(); // closes the connection: connCloseAt is set, as in the example
  const { trace } = await client.getTrace(`GET ${url}`);
  t.diagnostic(JSON.stringify(trace, null, 2));
  const [entry] = await ng.waitForEntries(1);

  assert.equal(resp.status, 200);
  assert.deepEqual(body, ng.files['/index.html']);

  // ---- top level ----
  assert.deepEqual(Object.keys(trace), ['description', 'traceBeginAt', 'traceEndAt', 'dials', 'tcpConns', 'udpConns', 'dnsQueries', 'tlsTunnels', 'httpRequests']);
  assert.equal(trace.description, `GET ${url}`);
  assert.match(trace.traceBeginAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d)$/);
  const end = rel(trace.traceEndAt);

  // ---- dial ----
  assert.equal(trace.dials.length, 1);
  const [dial] = trace.dials;
  assert.deepEqual(Object.keys(dial!), ['traceID', 'dialBeginAt', 'dialEndAt', 'ctxCloseAt', 'dstAddress', 'resolverDials', 'establishedConn']);
  assert.match(dial!.traceID, /^tid-[0-9a-f]+$/);
  assert.equal(dial!.dstAddress, `${NAME}:${ng.tlsPort}`);
  assert.equal(dial!.resolverDials!.length, 2, 'A and AAAA, each on its own UDP socket, as in the example');
  for (const rd of dial!.resolverDials!) {
    assert.deepEqual(Object.keys(rd), ['dialBeginAt', 'dialEndAt', 'nameserver', 'establishedConn']);
    assert.equal(rd.nameserver, `${NS}:53`);
  }

  // ---- TCP connection ----
  assert.equal(trace.tcpConns.length, 1);
  const [tcp] = trace.tcpConns;
  assert.deepEqual(Object.keys(tcp!), ['traceID', 'fromDial', 'handshakeBeginAt', 'handshakeEndAt', 'connected', 'connCloseAt', 'addrTuple', 'reused', 'totalSentBytes', 'totalRecvBytes', 'conntrack' in tcp! ? 'conntrack' : 'conntrackErr', 'socketTrace']);
  assert.equal(tcp!.fromDial, dial!.traceID);
  assert.equal(dial!.establishedConn, tcp!.traceID);
  assert.equal(tcp!.connected, true);
  assert.equal(tcp!.reused, false);
  assert.deepEqual(Object.keys(tcp!.addrTuple), ['srcIP', 'srcPort', 'dstIP', 'dstPort']);
  assert.deepEqual({ ...tcp!.addrTuple, srcPort: 0 }, { srcIP: '127.0.0.1', srcPort: 0, dstIP: '127.0.0.1', dstPort: ng.tlsPort }, 'the A answer was tried first');
  assert.equal(tcp!.addrTuple.srcPort, entry!.remote_port, 'nginx saw the same client port');
  const ops = tcp!.socketTrace!.socketOps;
  for (const op of ops) assert.deepEqual(Object.keys(op).filter((k) => k !== 'returnErr'), ['type', 'callAt', 'returnAt', 'dataLen']);
  assert.equal(ops.filter((o) => o.type === 'write').reduce((n, o) => n + o.dataLen, 0), tcp!.totalSentBytes);
  assert.equal(ops.filter((o) => o.type === 'read').reduce((n, o) => n + o.dataLen, 0), tcp!.totalRecvBytes);

  // ---- UDP connections of the resolver ----
  assert.equal(trace.udpConns.length, 2);
  const udpIds = trace.udpConns.map((u) => u.traceID).sort();
  assert.deepEqual(dial!.resolverDials!.map((r) => r.establishedConn).sort(), udpIds);
  const queries = (await dns.queries()).filter((q) => q.name === NAME);
  for (const u of trace.udpConns) {
    assert.deepEqual(Object.keys(u).slice(0, 8), ['traceID', 'fromDial', 'fromResolver', 'socketCreateAt', 'connCloseAt', 'addrTuple', 'totalSentBytes', 'totalRecvBytes']);
    assert.equal(u.fromDial, dial!.traceID);
    assert.equal(u.fromResolver, true);
    assert.equal(u.addrTuple.dstIP, NS);
    assert.equal(u.addrTuple.dstPort, 53);
    assert.ok(queries.some((q) => q.clientPort === u.addrTuple.srcPort), `dnsmasq logged a query from port ${u.addrTuple.srcPort}`);
    assert.deepEqual(u.socketTrace!.socketOps.map((o) => o.type), ['write', 'read']);
  }

  // ---- DNS queries ----
  assert.equal(trace.dnsQueries.length, 2);
  const byType = new Map<string, (typeof trace.dnsQueries)[number]>();
  for (const q of trace.dnsQueries) {
    assert.deepEqual(Object.keys(q), ['traceID', 'fromDial', 'connection', 'dnsQueryMsgs', 'dnsReplyMsgs']);
    assert.equal(q.fromDial, dial!.traceID);
    assert.ok(udpIds.includes(q.connection));
    const [qm] = q.dnsQueryMsgs;
    assert.deepEqual(Object.keys(qm!), ['sentAt', 'id', 'recursionDesired', 'truncated', 'size', 'questions', 'optUDPPayloadSize']);
    assert.equal(qm!.optUDPPayloadSize, 1232);
    assert.equal(qm!.recursionDesired, true);
    assert.deepEqual(qm!.questions.map((x) => x.name), [`${NAME}.`]);
    const conn = trace.udpConns.find((u) => u.traceID === q.connection)!;
    assert.equal(qm!.size, conn.totalSentBytes, 'the query is what the UDP socket sent');
    const [rm] = q.dnsReplyMsgs;
    assert.deepEqual(Object.keys(rm!), ['recvAt', 'id', 'authoritative', 'recursionAvailable', 'truncated', 'size', 'rCode', 'answers']);
    assert.equal(rm!.id, qm!.id);
    assert.equal(rm!.rCode, 'no-error');
    assert.equal(rm!.size, conn.totalRecvBytes);
    byType.set(qm!.questions[0]!.type, q);
  }
  const ans = (type: string): unknown => byType.get(type)!.dnsReplyMsgs[0]!.answers.map((a) => ({ ...a }));
  // dnsmasq's configuration is the reference: --host-record NAME,127.0.0.1,::1 with --local-ttl 227
  assert.deepEqual(ans('A'), [{ name: `${NAME}.`, type: 'A', class: 1, ttl: 227, resolvedVal: '127.0.0.1' }]);
  assert.deepEqual(ans('AAAA'), [{ name: `${NAME}.`, type: 'AAAA', class: 1, ttl: 227, resolvedVal: '::1' }]);

  // ---- TLS tunnel ----
  assert.equal(trace.tlsTunnels.length, 1);
  const [tls] = trace.tlsTunnels;
  assert.deepEqual(Object.keys(tls!), ['traceID', 'tcpConn', 'handshakeBeginAt', 'handshakeEndAt', 'didResume', 'peerCerts', 'cipherSuite', 'negotiatedProto', 'serverName']);
  assert.equal(tls!.tcpConn, tcp!.traceID);
  assert.equal(tls!.negotiatedProto, 'h2');
  assert.equal(tls!.serverName, NAME);
  assert.equal(tls!.didResume, false);
  assert.ok(tls!.cipherSuite > 0);
  for (const c of tls!.peerCerts) {
    assert.deepEqual(Object.keys(c), ['subject', 'issuer', 'notBefore', 'notAfter', 'isCA']);
    assert.match(c.notBefore, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  }
  assert.deepEqual(tls!.peerCerts.map((c) => c.isCA), [false, true], 'leaf, then the CA, as nginx sends its chain');

  // ---- HTTP request ----
  assert.equal(trace.httpRequests.length, 1);
  const [req] = trace.httpRequests;
  assert.deepEqual(Object.keys(req!), ['traceID', 'tcpConn', 'tlsTunnel', 'protoMajor', 'protoMinor', 'reqSentAt', 'reqMethod', 'reqURL', 'reqContentLen', 'respRecvAt', 'respStatusCode', 'RespContentLen']);
  assert.equal(req!.tcpConn, tcp!.traceID);
  assert.equal(req!.tlsTunnel, tls!.traceID);
  assert.deepEqual([req!.protoMajor, req!.protoMinor], [2, 0]);
  assert.equal(entry!.server_protocol, 'HTTP/2.0');
  assert.equal(req!.reqMethod, 'GET');
  assert.equal(req!.reqURL, url);
  assert.equal(req!.reqContentLen, 0);
  assert.equal(req!.respStatusCode, entry!.status);
  assert.equal(req!.RespContentLen, body.length);

  // ---- causality, as in the example: request → dial → DNS → TCP handshake → TLS → response → close ----
  const ids = new Set([dial, tcp, tls, req, ...trace.udpConns, ...trace.dnsQueries].map((r) => r!.traceID));
  assert.equal(ids.size, 8, 'every record has its own trace id');
  assert.ok(rel(req!.reqSentAt) <= rel(dial!.dialBeginAt));
  for (const rd of dial!.resolverDials!) assert.ok(rel(dial!.dialBeginAt) <= rel(rd.dialBeginAt));
  for (const q of trace.dnsQueries) assert.ok(rel(q.dnsQueryMsgs[0]!.sentAt) <= rel(q.dnsReplyMsgs[0]!.recvAt));
  const lastReply = Math.max(...trace.dnsQueries.map((q) => rel(q.dnsReplyMsgs[0]!.recvAt)));
  assert.ok(lastReply <= rel(tcp!.handshakeBeginAt));
  assert.ok(rel(tcp!.handshakeBeginAt) <= rel(tcp!.handshakeEndAt));
  assert.ok(rel(tcp!.handshakeEndAt) <= rel(tls!.handshakeBeginAt));
  assert.ok(rel(tls!.handshakeEndAt) <= rel(req!.respRecvAt));
  assert.equal(rel(dial!.dialEndAt), rel(tcp!.handshakeEndAt));
  assert.ok(rel(req!.respRecvAt) <= rel(tcp!.connCloseAt));
  assert.ok(rel(tcp!.connCloseAt) <= end);
});
