/**
 * The traced client (wirelog/client) against a real nginx: HTTP/1.1 plain and over TLS, HTTP/2 over TLS (ALPN),
 * redirects, connection reuse, header modes. Every record is checked against an independent view: nginx's access
 * log (method, URI, status, protocol, the client's port, bytes), openssl's view of the test certificates and of the
 * cipher suite numbers, and the bytes the sockets carried.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fetch as undiciFetch } from 'undici';
import { Scope, runOk, waitFor } from '../helpers/proc.js';
import { makeTestPki, type TestPki } from '../helpers/tls.js';
import { startClientNginx, type ClientNginx, type ClientNginxEntry } from '../helpers/client-servers.js';
import { requirePrivileges } from '../helpers/privileged.js';
import { sensorPath } from '../helpers/paths.js';
import {
  createTracedClient, withConntrack, withHTTPReqTrace, withLogging, withPacketCapture, withSockTrace, type HTTPClientConfig,
  type HttpTraceJson, type PacketCapture,
} from '../../src/client/index.js';

const scope = new Scope();
let pki: TestPki;
let ng: ClientNginx;
let hostsPath: string;

before(async () => {
  pki = await makeTestPki(scope);
  ng = await startClientNginx(scope, pki);
  // `localhost` → 127.0.0.1 only (nginx listens there), whatever the system's /etc/hosts says
  hostsPath = path.join(await scope.tempDir('wirelog-client-hosts-'), 'hosts');
  await writeFile(hostsPath, '127.0.0.1 localhost\n');
});
after(() => scope.close());

function cfg(extra: HTTPClientConfig = {}): HTTPClientConfig {
  return { tls: { ca: pki.caPem }, hostsPath, ...extra };
}

/** Access log entries added since `from` entries were there (waiting until `n` are). */
async function newEntries(from: number, n: number): Promise<ClientNginxEntry[]> {
  return (await ng.waitForEntries(from + n)).slice(from);
}

type Tcp = HttpTraceJson['tcpConns'][number];
function sumOps(c: Tcp, type: 'read' | 'write'): number {
  return (c.socketTrace?.socketOps ?? []).filter((o) => o.type === type).reduce((n, o) => n + o.dataLen, 0);
}

test('plain HTTP/1.1 GET: the trace matches nginx and the socket', async () => {
  const before0 = (await ng.readAccessLog()).length;
  const client = createTracedClient(cfg({ disableKeepAlive: true }), withSockTrace(), withHTTPReqTrace());
  const resp = await client.fetch(`http://127.0.0.1:${ng.httpPort}/index.html`);
  const body = Buffer.from(await resp.arrayBuffer());
  // connection: close: the connection ends with the response; the trace says when
  const trace = await waitFor('connection closed in the trace', async () => {
    const t = (await client.getTrace('plain GET')).trace;
    return t.tcpConns[0]?.connCloseAt !== undefined ? t : undefined;
  });
  await client.close();
  const [entry] = await newEntries(before0, 1);

  assert.equal(trace.description, 'plain GET');
  assert.deepEqual(body, ng.files['/index.html']);
  assert.equal(trace.dials.length, 1);
  assert.equal(trace.tcpConns.length, 1);
  assert.equal(trace.tlsTunnels.length, 0);
  assert.equal(trace.httpRequests.length, 1);
  const [dial] = trace.dials;
  const [conn] = trace.tcpConns;
  const [req] = trace.httpRequests;
  assert.equal(dial!.dstAddress, `127.0.0.1:${ng.httpPort}`);
  assert.equal(dial!.establishedConn, conn!.traceID);
  assert.equal(conn!.fromDial, dial!.traceID);
  assert.equal(conn!.connected, true);
  assert.equal(conn!.reused, false);
  assert.equal(req!.tcpConn, conn!.traceID);
  assert.equal(req!.tlsTunnel, undefined);

  // nginx's view of the same request
  assert.equal(req!.reqMethod, entry!.request_method);
  assert.equal(req!.reqURL, `http://127.0.0.1:${ng.httpPort}${entry!.request_uri}`);
  assert.equal(req!.respStatusCode, entry!.status);
  assert.equal(`HTTP/${req!.protoMajor}.${req!.protoMinor}`, entry!.server_protocol);
  assert.equal(conn!.addrTuple.srcPort, entry!.remote_port);
  assert.equal(conn!.addrTuple.srcIP, entry!.remote_addr);
  assert.equal(conn!.addrTuple.dstPort, entry!.server_port);
  assert.equal(req!.RespContentLen, entry!.body_bytes_sent);
  // one request on the connection (keep-alive off): the socket's totals are the request's bytes on the wire
  assert.equal(conn!.totalRecvBytes, entry!.bytes_sent);
  assert.equal(conn!.totalSentBytes, entry!.request_length);
  // the socket operations add up to the totals
  assert.equal(sumOps(conn!, 'read'), conn!.totalRecvBytes);
  assert.equal(sumOps(conn!, 'write'), conn!.totalSentBytes);
  assert.match(req!.reqSentAt, /^\+\d+ms$/);
  assert.match(req!.respRecvAt ?? '', /^\+\d+ms$/);
});

test('the README example\'s order (getTrace before close): every timestamp is "+Nms" or absent, never "undefined"', async () => {
  const before0 = (await ng.readAccessLog()).length;
  const client = createTracedClient(cfg({ preferHTTP2: true }), withSockTrace(), withHTTPReqTrace());
  const resp = await client.fetch(`https://localhost:${ng.tlsPort}/index.html`);
  await resp.text();
  const { trace } = await client.getTrace('GET https://localhost/'); // the connection is still open here
  await client.close();
  await newEntries(before0, 1);
  assert.equal(trace.httpRequests.length, 1);
  assert.equal(trace.tcpConns.length, 1);
  // still open at getTrace: no close time yet, and no "undefined" stand-in
  assert.ok(!('connCloseAt' in trace.tcpConns[0]!), `connCloseAt absent while open: ${JSON.stringify(trace.tcpConns[0])}`);
  const json = JSON.stringify(trace);
  assert.doesNotMatch(json, /undefined/);
  // every field named like a time (…At) anywhere in the trace, but the absolute traceBeginAt
  let times = 0;
  const walk = (v: unknown, key: string): void => {
    if (Array.isArray(v)) v.forEach((x) => walk(x, key));
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
    else if (/At$/.test(key) && key !== 'traceBeginAt') {
      times++;
      assert.match(String(v), /^\+\d+ms$/, `${key}: ${String(v)}`);
    }
  };
  walk(trace, '');
  assert.ok(times >= 6, `timestamps checked: ${times}`);
});

test('HTTPS HTTP/1.1 by name: TLS tunnel with the certificates openssl sees, the cipher suite nginx chose', async () => {
  const before0 = (await ng.readAccessLog()).length;
  const client = createTracedClient(cfg(), withSockTrace(), withHTTPReqTrace());
  const resp = await client.fetch(`https://localhost:${ng.tlsPort}/big.bin`);
  const body = Buffer.from(await resp.arrayBuffer());
  const { trace } = await client.getTrace('GET https://localhost/big.bin');
  await client.close();
  const [entry] = await newEntries(before0, 1);

  assert.deepEqual(body, ng.files['/big.bin']);
  assert.equal(trace.tlsTunnels.length, 1);
  const [tls] = trace.tlsTunnels;
  const [conn] = trace.tcpConns;
  const [req] = trace.httpRequests;
  assert.equal(tls!.tcpConn, conn!.traceID);
  assert.equal(req!.tlsTunnel, tls!.traceID);
  assert.equal(tls!.serverName, 'localhost');
  assert.equal(tls!.negotiatedProto, 'http/1.1');
  assert.equal(tls!.handshakeErr, undefined);
  assert.equal(tls!.didResume, false);
  assert.equal(entry!.server_protocol, 'HTTP/1.1');
  assert.equal(conn!.addrTuple.srcPort, entry!.remote_port);
  assert.equal(req!.RespContentLen, entry!.body_bytes_sent);

  // the chain nginx sends (chain.crt: server, then CA) as openssl prints it
  const subj = async (file: string, what: '-subject' | '-issuer'): Promise<string> =>
    (await runOk('openssl', ['x509', '-noout', what, '-nameopt', 'RFC2253', '-in', file])).stdout.trim().replace(/^(subject|issuer)=/, '');
  const dates = async (file: string): Promise<[number, number]> => {
    const out = (await runOk('openssl', ['x509', '-noout', '-startdate', '-enddate', '-in', file])).stdout;
    return [Date.parse(/notBefore=(.*)/.exec(out)![1]!), Date.parse(/notAfter=(.*)/.exec(out)![1]!)];
  };
  assert.equal(tls!.peerCerts.length, 2);
  const [leaf, ca] = tls!.peerCerts;
  assert.equal(leaf!.subject, await subj(pki.serverCert, '-subject'));
  assert.equal(leaf!.issuer, await subj(pki.serverCert, '-issuer'));
  assert.equal(ca!.subject, await subj(pki.caCert, '-subject'));
  assert.equal(leaf!.isCA, false);
  assert.equal(ca!.isCA, true);
  const [nb, na] = await dates(pki.serverCert);
  assert.equal(Date.parse(leaf!.notBefore), nb);
  assert.equal(Date.parse(leaf!.notAfter), na);

  // cipher suite: nginx's OpenSSL name → IANA number from `openssl ciphers -V -stdname`
  const list = (await runOk('openssl', ['ciphers', '-V', '-stdname', 'ALL:COMPLEMENTOFALL'])).stdout;
  const line = list.split('\n').find((l) => l.split(' - ')[2]?.trim().split(/\s+/)[0] === entry!.ssl_cipher);
  assert.ok(line, `openssl knows nginx's cipher ${entry!.ssl_cipher}`);
  const m = /0x([0-9A-F]{2}),0x([0-9A-F]{2})/i.exec(line!)!;
  assert.equal(tls!.cipherSuite, parseInt(m[1]!, 16) * 256 + parseInt(m[2]!, 16));

  // the handshake bytes are in the socket's operations: totals exceed the plaintext nginx counted
  assert.equal(sumOps(conn!, 'read'), conn!.totalRecvBytes);
  assert.equal(sumOps(conn!, 'write'), conn!.totalSentBytes);
  assert.ok(conn!.totalRecvBytes > entry!.bytes_sent, `${conn!.totalRecvBytes} encrypted bytes > ${entry!.bytes_sent} plaintext`);
  assert.ok(conn!.totalSentBytes > entry!.request_length);
});

test('HTTP/2 over TLS: ALPN h2, requests multiplexed on one connection', async () => {
  const before0 = (await ng.readAccessLog()).length;
  const client = createTracedClient(cfg({ preferHTTP2: true }), withHTTPReqTrace());
  const first = await client.fetch(`https://localhost:${ng.tlsPort}/small.txt`);
  assert.equal(await first.text(), 'hello world\n');
  const paths = ['/index.html', '/big.bin', '/small.txt'];
  const bodies = await Promise.all(paths.map(async (p) => Buffer.from(await (await client.fetch(`https://localhost:${ng.tlsPort}${p}`)).arrayBuffer())));
  const { trace } = await client.getTrace('h2');
  await client.close();
  const entries = await newEntries(before0, 4);

  paths.forEach((p, i) => assert.deepEqual(bodies[i], ng.files[p]));
  assert.equal(trace.tcpConns.length, 1, 'one connection carries all four requests');
  assert.equal(trace.tlsTunnels[0]!.negotiatedProto, 'h2');
  assert.equal(trace.httpRequests.length, 4);
  for (const r of trace.httpRequests) {
    assert.equal(r.protoMajor, 2);
    assert.equal(r.protoMinor, 0);
    assert.equal(r.tcpConn, trace.tcpConns[0]!.traceID);
    assert.equal(r.tlsTunnel, trace.tlsTunnels[0]!.traceID);
  }
  for (const e of entries) {
    assert.equal(e.server_protocol, 'HTTP/2.0');
    assert.equal(e.remote_port, trace.tcpConns[0]!.addrTuple.srcPort);
    assert.equal(e.connection, entries[0]!.connection);
  }
  // each request's record matches its log entry (by URI; the three parallel ones in any order)
  for (const r of trace.httpRequests) {
    const uri = new URL(r.reqURL).pathname;
    const e = entries.find((x) => x.request_uri === uri)!;
    assert.equal(r.respStatusCode, e.status);
    assert.equal(r.RespContentLen, ng.files[uri]!.length);
    assert.equal(r.RespContentLen, e.body_bytes_sent);
  }
});

test('redirect chain: every hop is its own request record', async () => {
  const before0 = (await ng.readAccessLog()).length;
  const client = createTracedClient(cfg(), withHTTPReqTrace());
  const resp = await client.fetch(`http://127.0.0.1:${ng.httpPort}/redirect1`);
  assert.equal(await resp.text(), 'hello world\n');
  assert.equal(resp.redirected, true);
  assert.equal(resp.url, `http://127.0.0.1:${ng.httpPort}/small.txt`);
  const { trace } = await client.getTrace('redirects');
  await client.close();
  const entries = await newEntries(before0, 3);

  assert.equal(trace.httpRequests.length, 3);
  trace.httpRequests.forEach((r, i) => {
    const e = entries[i]!;
    assert.equal(r.reqURL, `http://127.0.0.1:${ng.httpPort}${e.request_uri}`);
    assert.equal(r.respStatusCode, e.status);
    const conn = trace.tcpConns.find((c) => c.traceID === r.tcpConn);
    assert.ok(conn, `hop ${i} names its connection`);
    assert.equal(conn!.addrTuple.srcPort, e.remote_port);
  });
  assert.deepEqual(trace.httpRequests.map((r) => r.respStatusCode), [302, 302, 200]);
  // the caller read only the last body
  assert.deepEqual(trace.httpRequests.map((r) => r.RespContentLen), [0, 0, 12]);
});

test('connection reuse: within a trace the requests share the connection; after clearTrace it comes back reused', async () => {
  const before0 = (await ng.readAccessLog()).length;
  const client = createTracedClient(cfg(), withSockTrace(), withHTTPReqTrace());
  const url = `http://127.0.0.1:${ng.httpPort}/small.txt`;
  await (await client.fetch(url)).text();
  // undici hands the connection back to its pool on the next turn of the event loop
  await new Promise((r) => setImmediate(r));
  await (await client.fetch(url)).text();
  await new Promise((r) => setImmediate(r));
  const t1 = (await client.getTrace('first')).trace;
  client.clearTrace();
  await (await client.fetch(url)).text();
  const t2 = (await client.getTrace('second')).trace;
  await client.close();
  const entries = await newEntries(before0, 3);

  assert.equal(t1.tcpConns.length, 1);
  assert.equal(t1.httpRequests.length, 2);
  assert.equal(t1.httpRequests[0]!.tcpConn, t1.tcpConns[0]!.traceID);
  assert.equal(t1.httpRequests[1]!.tcpConn, t1.tcpConns[0]!.traceID);
  assert.equal(t1.tcpConns[0]!.reused, false);
  // nginx: one connection, requests 1, 2, 3 on it
  assert.deepEqual(entries.map((e) => e.connection_requests), [1, 2, 3]);
  assert.ok(entries.every((e) => e.remote_port === t1.tcpConns[0]!.addrTuple.srcPort));

  assert.equal(t2.dials.length, 0, 'no new dial');
  assert.equal(t2.tcpConns.length, 1);
  assert.equal(t2.tcpConns[0]!.traceID, t1.tcpConns[0]!.traceID);
  assert.equal(t2.tcpConns[0]!.reused, true);
  assert.equal(t2.httpRequests.length, 1);
  assert.equal(t2.httpRequests[0]!.tcpConn, t1.tcpConns[0]!.traceID);
  // the connection began before this trace: absolute timestamps; socket operations start afresh
  assert.doesNotMatch(t2.tcpConns[0]!.handshakeBeginAt, /^\+/);
  const reads = t2.tcpConns[0]!.socketTrace!.socketOps.filter((o) => o.type === 'read');
  assert.equal(reads.reduce((n, o) => n + o.dataLen, 0), entries[2]!.bytes_sent);
});

test('header modes: names only, value lengths, values with secrets redacted (and shown on request), excluded fields', async () => {
  const url = `https://localhost:${ng.tlsPort}/set-cookie`;
  const headers = { authorization: 'Bearer top-secret-token', cookie: 'a=1; b=2', 'x-test': 'visible-value' };
  const run = async (o: Parameters<typeof withHTTPReqTrace>[0]): Promise<HttpTraceJson['httpRequests'][number]> => {
    const before0 = (await ng.readAccessLog()).length;
    const client = createTracedClient(cfg(), withHTTPReqTrace(o));
    await (await client.fetch(url, { headers })).text();
    const { trace } = await client.getTrace('headers');
    await client.close();
    const [e] = await newEntries(before0, 1);
    // nginx got the real values
    assert.equal(e!.http_authorization, headers.authorization);
    assert.equal(e!.http_cookie, headers.cookie);
    assert.equal(e!.http_x_test, headers['x-test']);
    return trace.httpRequests[0]!;
  };
  const find = (kvs: { fieldName: string }[] | undefined, name: string): Record<string, unknown> | undefined =>
    kvs?.find((h) => h.fieldName.toLowerCase() === name) as Record<string, unknown> | undefined;

  const disabled = await run({});
  assert.equal(disabled.reqHeader, undefined);
  assert.equal(disabled.respHeader, undefined);

  const names = await run({ headerFields: 'namesOnly' });
  assert.deepEqual(find(names.reqHeader, 'x-test'), { fieldName: 'x-test' });
  assert.deepEqual(find(names.respHeader, 'set-cookie'), { fieldName: 'Set-Cookie' });

  const lens = await run({ headerFields: 'valueLenOnly' });
  assert.deepEqual(find(lens.reqHeader, 'authorization'), { fieldName: 'authorization', fieldValLen: headers.authorization.length });

  const vals = await run({ headerFields: 'withValues', excludeHeaderField: (n) => n.toLowerCase() === 'user-agent' });
  assert.deepEqual(find(vals.reqHeader, 'x-test'), { fieldName: 'x-test', fieldVal: 'visible-value', fieldValLen: 13 });
  assert.deepEqual(find(vals.reqHeader, 'authorization'), { fieldName: 'authorization', fieldVal: '[redacted]', fieldValLen: headers.authorization.length });
  assert.deepEqual(find(vals.reqHeader, 'cookie'), { fieldName: 'cookie', fieldVal: '[redacted]', fieldValLen: headers.cookie.length });
  assert.equal(find(vals.reqHeader, 'user-agent'), undefined);
  assert.equal(find(vals.respHeader, 'set-cookie')!.fieldVal, '[redacted]');
  assert.equal(find(vals.respHeader, 'x-plain')!.fieldVal, 'visible');
  assert.equal(find(vals.reqHeader, 'host')!.fieldVal, `localhost:${ng.tlsPort}`);

  const secrets = await run({ headerFields: 'withValues', showSecrets: true });
  assert.equal(find(secrets.reqHeader, 'authorization')!.fieldVal, headers.authorization);
  assert.equal(find(secrets.respHeader, 'set-cookie')!.fieldVal, 'session=s3cr3t; Path=/');
});

test('content lengths: POST body bytes sent; decoded response bytes read; disableCompression', async () => {
  const before0 = (await ng.readAccessLog()).length;
  const client = createTracedClient(cfg({ disableKeepAlive: true }), withSockTrace(), withHTTPReqTrace({ headerFields: 'namesOnly' }));
  const post = Buffer.alloc(5000, 'p');
  const r1 = await client.fetch(`http://127.0.0.1:${ng.httpPort}/echo`, { method: 'POST', body: post });
  assert.equal(r1.status, 201);
  await r1.text();
  const gz = await client.fetch(`http://127.0.0.1:${ng.httpPort}/text.txt`);
  const text = await gz.text();
  const { trace } = await client.getTrace('lengths');
  await client.close();

  const plain = createTracedClient(cfg({ disableCompression: true, disableKeepAlive: true }), withHTTPReqTrace({ headerFields: 'namesOnly' }));
  await (await plain.fetch(`http://127.0.0.1:${ng.httpPort}/text.txt`)).text();
  const t2 = (await plain.getTrace('no compression')).trace;
  await plain.close();
  const [ePost, eGz, ePlain] = await newEntries(before0, 3);

  const [rPost, rGz] = trace.httpRequests;
  assert.equal(rPost!.reqMethod, 'POST');
  assert.equal(rPost!.reqContentLen, post.length);
  assert.equal(ePost!.request_method, 'POST');
  const postConn = trace.tcpConns.find((c) => c.traceID === rPost!.tcpConn)!;
  assert.equal(postConn.totalSentBytes, ePost!.request_length, 'request head + body: what nginx received');
  // gzip on the wire, decoded for the caller: RespContentLen is what the caller read
  assert.equal(text.length, ng.files['/text.txt']!.length);
  assert.equal(rGz!.RespContentLen, ng.files['/text.txt']!.length);
  assert.ok(eGz!.body_bytes_sent < ng.files['/text.txt']!.length, 'nginx compressed it');
  assert.match(eGz!.http_accept_encoding, /gzip/);
  // disableCompression: no accept-encoding sent, nginx sends it whole
  assert.equal(ePlain!.http_accept_encoding, '');
  assert.equal(ePlain!.body_bytes_sent, ng.files['/text.txt']!.length);
  assert.ok(!t2.httpRequests[0]!.reqHeader!.some((h) => h.fieldName === 'accept-encoding'));
  assert.equal(t2.httpRequests[0]!.RespContentLen, ng.files['/text.txt']!.length);
});

test('request() and the dispatcher handed to third-party code are traced too', async () => {
  const before0 = (await ng.readAccessLog()).length;
  const client = createTracedClient(cfg(), withHTTPReqTrace());
  const r = await client.request(`https://localhost:${ng.tlsPort}/small.txt`);
  assert.equal(r.statusCode, 200);
  assert.equal(await r.body.text(), 'hello world\n');
  const viaUndici = await undiciFetch(`https://localhost:${ng.tlsPort}/index.html`, { dispatcher: client.dispatcher });
  assert.equal(viaUndici.status, 200);
  await viaUndici.text();
  const { trace } = await client.getTrace('apis');
  await client.close();
  const entries = await newEntries(before0, 2);

  assert.deepEqual(trace.httpRequests.map((x) => x.reqURL), entries.map((e) => `https://localhost:${ng.tlsPort}${e.request_uri}`));
  assert.deepEqual(trace.httpRequests.map((x) => x.respStatusCode), [200, 200]);
  assert.equal(trace.httpRequests[0]!.RespContentLen, 12);
  assert.equal(trace.httpRequests[1]!.RespContentLen, ng.files['/index.html']!.length);
  for (const [i, x] of trace.httpRequests.entries()) {
    const conn = trace.tcpConns.find((c) => c.traceID === x.tcpConn)!;
    assert.equal(conn.addrTuple.srcPort, entries[i]!.remote_port);
  }
});

test('withConntrack: every connection gets its conntrack entry or the reason it has none', async () => {
  const client = createTracedClient(cfg(), withConntrack(), withHTTPReqTrace());
  await (await client.fetch(`http://127.0.0.1:${ng.httpPort}/small.txt`)).text();
  const { trace } = await client.getTrace('conntrack');
  await client.close();
  assert.equal(trace.tcpConns.length, 1);
  const c = trace.tcpConns[0]!;
  if (c.conntrack) {
    assert.equal(c.conntrackErr, undefined);
    assert.deepEqual(c.conntrack.addrOrig, c.addrTuple);
  } else {
    assert.ok(c.conntrackErr && c.conntrackErr.length > 0, 'the reason is given');
  }
});

test('withLogging: debug lines for the dial, the connection and the request', async () => {
  const lines: string[] = [];
  const logger = { trace: () => undefined, debug: (m: string) => lines.push(m), info: () => undefined, warn: () => undefined, error: () => undefined };
  const client = createTracedClient(cfg(), withLogging({ customLogger: logger }), withHTTPReqTrace());
  await (await client.fetch(`https://localhost:${ng.tlsPort}/small.txt`)).text();
  const { trace } = await client.getTrace('logging');
  await client.close();
  const d = trace.dials[0]!;
  const c = trace.tcpConns[0]!;
  const r = trace.httpRequests[0]!;
  assert.ok(lines.some((l) => l.includes(`dial ${d.traceID}`) && l.includes(`localhost:${ng.tlsPort}`)), lines.join('\n'));
  assert.ok(lines.some((l) => l.includes(`tcp conn ${c.traceID}`) && l.includes(`:${c.addrTuple.srcPort}`)));
  assert.ok(lines.some((l) => l.includes(`tls tunnel ${trace.tlsTunnels[0]!.traceID}`)));
  assert.ok(lines.some((l) => l.includes(`http ${r.traceID}`) && l.includes('response 200')));
});

test('withPacketCapture: the capture holds the traced connection, its payload bytes are the socket totals', async (t) => {
  if (!requirePrivileges(t)) return;
  const client = createTracedClient(cfg({ disableKeepAlive: true }), withHTTPReqTrace(),
    withPacketCapture({ interfaces: ['lo'], sensorPath }));
  await (await client.fetch(`http://127.0.0.1:${ng.httpPort}/big.bin`)).arrayBuffer();
  const conn = (await client.getTrace('pcap')).trace.tcpConns[0]!;
  // the capture sees the packets a moment after the socket does: wait for the whole exchange (FINs included)
  // payload bytes by sequence range, so a retransmitted segment (a loaded host) counts once
  const unique = (ranges: Array<[number, number]>): number => {
    let total = 0;
    let end = -1;
    for (const [a, b] of ranges.sort((x, y) => x[0] - y[0])) {
      if (b <= end) continue;
      total += b - Math.max(a, end);
      end = b;
    }
    return total;
  };
  const tcpPayload = (pcaps: PacketCapture[]): { sent: number; recv: number; fins: number; other: number } => {
    const out = { sent: 0, recv: 0, fins: 0, other: 0 };
    const ranges: Record<'sent' | 'recv', Array<[number, number]>> = { sent: [], recv: [] };
    const base: Partial<Record<'sent' | 'recv', number>> = {};
    for (const p of pcaps[0]?.packets ?? []) {
      const d = p.data;
      if (d.readUInt16BE(12) !== 0x0800) { out.other++; continue; }
      const ip = 14;
      const ihl = (d[ip]! & 0x0f) * 4;
      const totalLen = d.readUInt16BE(ip + 2);
      const tcp = ip + ihl;
      const sport = d.readUInt16BE(tcp);
      const dport = d.readUInt16BE(tcp + 2);
      const payload = totalLen - ihl - (d[tcp + 12]! >> 4) * 4;
      if (d[tcp + 13]! & 0x01) out.fins++;
      const dir = sport === conn.addrTuple.srcPort && dport === conn.addrTuple.dstPort ? 'sent'
        : sport === conn.addrTuple.dstPort && dport === conn.addrTuple.srcPort ? 'recv' : undefined;
      if (dir === undefined) { out.other++; continue; }
      const seq = d.readUInt32BE(tcp + 4);
      base[dir] ??= seq; // the SYN's (or the first seen) sequence number
      const rel = (seq - base[dir]!) >>> 0;
      if (payload > 0) ranges[dir].push([rel, rel + payload]);
    }
    out.sent = unique(ranges.sent);
    out.recv = unique(ranges.recv);
    return out;
  };
  const seen = await waitFor('both FINs captured', async () => {
    const { pcaps } = await client.getTrace('pcap');
    const s = tcpPayload(pcaps);
    return s.fins >= 2 ? s : undefined;
  });
  await client.close();
  assert.equal(seen.other, 0, 'only the traced connection is in the capture');
  assert.equal(seen.sent, conn.totalSentBytes);
  assert.equal(seen.recv, conn.totalRecvBytes);
});
