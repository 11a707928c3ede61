/**
 * `wirelog capture -r FILE` on cleartext HTTP/2 and TLS recorded with tcpdump on lo:
 * - nginx's `listen … http2` port (prior knowledge): h2load -n 20 -c 1 -m 4 (concurrent streams on one connection,
 *   three URIs, a 404 among them) and one curl --http2-prior-knowledge;
 * - h2o's plaintext port: curl --http2 with three URLs (the h2c upgrade: stream 1 is the HTTP/1.1 request, then
 *   streams 3 and 5 on the same connection);
 * - nginx's TLS port: curl --http1.1 and --http2 (--resolve to a name, so there is an SNI) and openssl s_client
 *   -servername -alpn.
 * Every stream's record is compared with the servers' access logs (nginx: method, URI, status, port; h2o: its
 * stream ids too) and with tshark's decoding of every HEADERS frame (decode-as http2 on the prior-knowledge port;
 * tshark follows the upgrade by itself); the TLS records with tshark's server_name and ALPN; the text lines and the
 * summary's counters too. Needs root (tcpdump), not the sensor; the last test captures live (the sensor) and
 * compares with the access logs.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { privilegeProblem, requirePrivileges } from '../helpers/privileged.js';
import { Scope, run, runOk } from '../helpers/proc.js';
import { makeTestPki } from '../helpers/tls.js';
import { startNginxTls, type NginxTlsEntry } from '../helpers/nginx-tls.js';
import { startH2o, type H2oAccessEntry } from '../helpers/h2o.js';
import { startTcpdump, tsharkH2Headers, tsharkClientHellos, type TsharkH2Headers } from '../helpers/tshark.js';
import {
  runWirelog, startWirelogLive, parseTextLines, parseSummary, parseJsonLines, JSON_FIELDS, type JsonRecord,
} from '../helpers/wirelog.js';
import type { TestPki } from '../helpers/tls.js';
import type { NginxTls } from '../helpers/nginx-tls.js';
import type { H2o } from '../helpers/h2o.js';

const scope = new Scope();
let file = '';
let h2cPort = 0, tlsPort = 0, upPort = 0;
let nginxLog: NginxTlsEntry[] = [];
let h2oLog: H2oAccessEntry[] = [];
let tsh: TsharkH2Headers[] = [];
let setupError: Error | undefined;
let pkiK: TestPki | undefined;
let ngK: NginxTls | undefined;
let h2oK: H2o | undefined;
const UA = 'wirelog-h2load';
const NAME = 'www.wirelog.test';

before(async () => {
  if (privilegeProblem(false)) return;
  try {
    const dir = await scope.tempDir('wirelog-h2-');
    const pki = await makeTestPki(scope);
    const ng = await startNginxTls(scope, pki);
    const h2o = await startH2o(scope, pki);
    [pkiK, ngK, h2oK] = [pki, ng, h2o];
    h2cPort = ng.h2cPort;
    tlsPort = ng.port;
    upPort = h2o.plainPort;
    file = path.join(dir, 'h2.pcap');
    const d = await startTcpdump(scope, { iface: 'lo', file, filter: `tcp port ${h2cPort} or tcp port ${tlsPort} or tcp port ${upPort}` });
    const base = `http://127.0.0.1:${h2cPort}`;
    const h = await runOk('h2load', ['-n', '20', '-c', '1', '-m', '4', '-H', `user-agent: ${UA}`, `${base}/small.txt`, `${base}/data.json`, `${base}/nope`]);
    assert.match(h.stdout, /20 done, \d+ succeeded, \d+ failed, 0 errored/, h.stdout); // a 404 is "failed" to h2load
    await runOk('curl', ['-sS', '-o', '/dev/null', '--http2-prior-knowledge', `${base}/index.html`]);
    const up = `http://127.0.0.1:${upPort}`;
    await runOk('curl', ['-sS', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '--http2', `${up}/small.txt`, `${up}/data.json`, `${up}/index.html`]);
    const res = `${NAME}:${tlsPort}:127.0.0.1`;
    for (const v of ['--http1.1', '--http2']) {
      await runOk('curl', ['-sS', '-o', '/dev/null', v, '--resolve', res, '--cacert', pki.caCert, `https://${NAME}:${tlsPort}/small.txt`]);
    }
    const o = await run('openssl', ['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-servername', 'openssl.wirelog.test', '-alpn', 'foo,h2'], { stdin: 'Q\n', timeoutMs: 20_000 });
    assert.equal(o.code, 0, o.stderr);
    nginxLog = await ng.waitForEntries(20 + 1 + 2);
    h2oLog = await h2o.waitForEntries(3);
    assert.equal((await d.stop()).droppedByKernel, 0, 'tcpdump dropped packets');
    tsh = await tsharkH2Headers(file, [h2cPort]);
  } catch (e) {
    setupError = e as Error;
  }
});
after(() => scope.close());

function ready(t: Parameters<typeof requirePrivileges>[0]): boolean {
  if (!requirePrivileges(t, false)) return false;
  if (setupError) throw setupError;
  return true;
}

async function jsonl(): Promise<{ http: JsonRecord[]; tls: Array<Record<string, unknown>>; stderr: string }> {
  const r = await runWirelog(['capture', '-r', file, '--format', 'jsonl']);
  assert.equal(r.code, 0, r.stderr);
  const all = parseJsonLines(r.stdout);
  return {
    http: all.filter((x) => x.record === 'l7'),
    tls: all.filter((x) => x.record === 'tls') as Array<Record<string, unknown>>,
    stderr: r.stderr,
  };
}

test('capture -r: every HTTP/2 stream is one record, as tshark decoded its HEADERS frames', async (t) => {
  if (!ready(t)) return;
  const { http } = await jsonl();
  for (const r of http) assert.deepEqual(Object.keys(r), [...JSON_FIELDS]);
  const reqs = tsh.filter((h) => h.fields[':method'] !== undefined);
  const resps = tsh.filter((h) => h.fields[':status'] !== undefined);
  // one record per stream: tshark's request HEADERS, plus the upgrade's stream 1 (its request was HTTP/1.1)
  assert.equal(http.length, reqs.length + 1, `records: ${http.length}, tshark request HEADERS: ${reqs.length}`);
  assert.equal(resps.length, http.length, 'tshark sees a response HEADERS per stream');
  const key = (port: number, sid: number): string => `${port}/${sid}`;
  const byStream = new Map(http.map((r) => [key(r.src_port, r.req_id!), r]));
  assert.equal(byStream.size, http.length, 'stream ids are unique per connection');
  for (const q of reqs) {
    const r = byStream.get(key(q.srcPort, q.streamId));
    assert.ok(r, `no record for stream ${q.streamId} of client port ${q.srcPort}`);
    assert.deepEqual([r.method, r.uri, r.host, r.version], [q.fields[':method'], q.fields[':path'], q.fields[':authority'], 'HTTP/2.0']);
    assert.equal(r.user_agent, q.fields['user-agent'] ?? null);
  }
  for (const s of resps) {
    const r = byStream.get(key(s.dstPort, s.streamId));
    assert.ok(r, `no record for the response on stream ${s.streamId} to port ${s.dstPort}`);
    assert.equal(r.status, Number(s.fields[':status']));
    assert.equal(r.content_type, s.fields['content-type'] ?? null);
    assert.equal(r.content_length, s.fields['content-length'] === undefined ? null : Number(s.fields['content-length']));
    if (r.content_length !== null) assert.equal(r.res_body_bytes, r.content_length);
    assert.deepEqual([r.res_version, r.reason, r.incomplete, r.anomalies, r.gap_bytes], ['HTTP/2.0', '', null, [], 0]);
    assert.equal(r.l7_trace_id, `${r.req_seq}_${r.resp_seq}`);
    assert.match(r.conn_trace_id ?? '', /^\d+_\d+$/);
  }
  // h2load's streams were concurrent: some request came before the previous stream's response
  const h2load = http.filter((r) => r.user_agent === UA).sort((a, b) => a.req_id! - b.req_id!);
  assert.equal(h2load.length, 20);
  assert.ok(h2load.some((r, i) => i > 0 && r.ts < h2load[i - 1]!.res_ts!), 'no two streams overlapped');
  assert.equal(new Set(h2load.map((r) => r.conn_id)).size, 1, 'one connection');
});

test('capture -r: the records equal the servers\' access logs (nginx prior knowledge, h2o upgrade with stream ids)', async (t) => {
  if (!ready(t)) return;
  const { http } = await jsonl();
  const ng = http.filter((r) => r.dst_port === h2cPort);
  const fromLog = nginxLog.filter((e) => e.server_port === h2cPort)
    .map((e) => `${e.remote_port} ${e.request_method} ${e.request_uri} ${e.server_protocol} ${e.status}`).sort();
  assert.deepEqual(ng.map((r) => `${r.src_port} ${r.method} ${r.uri} ${r.version} ${r.status}`).sort(), fromLog);
  const up = http.filter((r) => r.dst_port === upPort);
  assert.equal(up.length, 3);
  for (const e of h2oLog) {
    const r = up.find((x) => x.src_port === e.remote_port && x.req_id === e.stream_id);
    assert.ok(r, `no record for h2o's stream ${e.stream_id}`);
    assert.deepEqual([r.method, r.uri, r.status, r.host, r.user_agent], [e.method, e.uri, e.status, e.authority, e.user_agent]);
    assert.equal(e.protocol, 'HTTP/2');
  }
  const s1 = up.find((r) => r.req_id === 1)!;
  assert.deepEqual([s1.version, s1.interim], ['HTTP/2.0', [101]], 'the upgrade request is stream 1, its 101 an interim');
});

test('capture -r: TLS records carry tshark\'s server_name and ALPN; the summary counts HTTP/2 and TLS apart from not HTTP', async (t) => {
  if (!ready(t)) return;
  const { tls, http, stderr } = await jsonl();
  const hellos = await tsharkClientHellos(file);
  assert.equal(hellos.length, 3);
  assert.equal(tls.length, hellos.length);
  for (const h of hellos) {
    const r = tls.find((x) => x.src_port === h.srcPort);
    assert.ok(r, `no TLS record for port ${h.srcPort}`);
    assert.deepEqual([r.sni, r.alpn, r.dst_port, r.tls_version], [h.sni, h.alpn, tlsPort, 'TLS 1.3']);
    assert.match(String(r.conn_trace_id), /^\d+_\d+$/);
  }
  assert.deepEqual(tls.map((r) => r.alpn).sort(), [['foo', 'h2'], ['h2', 'http/1.1'], ['http/1.1']]);
  const s = parseSummary(stderr);
  assert.ok(s, stderr);
  assert.deepEqual(s.h2, { connections: 3, streams: http.length, framesSkipped: 0, unreliable: 0 });
  assert.deepEqual(s.tls, { connections: 3, notParsed: 0 });
  assert.equal(s.notHttp, 0);
  assert.equal(s.parseErrors, 0);
  assert.equal(s.transactions, http.length);
});

test('capture -r --format text: HTTP/2.0 request and response lines per stream, the 101 of the upgrade, TLS lines', async (t) => {
  if (!ready(t)) return;
  const r = await runWirelog(['capture', '-r', file]);
  assert.equal(r.code, 0, r.stderr);
  const raw = r.stdout.split('\n').filter((l) => l.length > 0);
  const tlsLines = raw.filter((l) => / CQ TLS /.test(l));
  assert.equal(tlsLines.length, 3);
  assert.ok(tlsLines.some((l) => l.endsWith(` CQ TLS TLSv1.3 ${NAME} h2,http/1.1`)), tlsLines.join('\n'));
  const lines = parseTextLines(raw.filter((l) => !/ CQ TLS /.test(l)).join('\n'));
  const { http } = await jsonl();
  const q2 = lines.filter((l) => l.kind === 'CQ' && l.version === 'HTTP/2.0');
  const r2 = lines.filter((l) => l.kind === 'CR' && l.version === 'HTTP/2.0');
  assert.equal(q2.length, http.length - 1, 'every stream but the upgrade\'s has an HTTP/2.0 request line');
  assert.equal(r2.length, http.length, 'every stream has an HTTP/2.0 response line');
  for (const l of r2) assert.match(l.tail!, /^ \d*/, 'an empty reason');
  assert.ok(lines.some((l) => l.kind === 'CQ' && l.version === 'HTTP/1.1' && l.dstPort === upPort), 'the upgrade request');
  assert.ok(lines.some((l) => l.kind === 'CR' && l.status === 101 && l.srcPort === upPort), 'the 101');
  assert.ok(q2.some((l) => l.uri === '/nope' && l.host === `127.0.0.1:${h2cPort}` && l.userAgent === UA));
  assert.ok(r2.some((l) => l.status === 404 && l.srcPort === h2cPort));
});

test('live capture on lo: HTTP/2 streams (prior knowledge and h2c upgrade) and a TLS record, as the servers logged them', async (t) => {
  if (!requirePrivileges(t, true)) return;
  if (setupError) throw setupError;
  const [ng, h2o, pki] = [ngK!, h2oK!, pkiK!];
  const ngBefore = (await ng.readAccessLog()).length;
  const h2oBefore = (await h2o.readAccessLog()).length;
  const wl = await startWirelogLive(scope, ['-i', 'lo', '-p', `${h2cPort},${upPort},${tlsPort}`, '--format', 'jsonl']);
  const base = `http://127.0.0.1:${h2cPort}`;
  await runOk('h2load', ['-n', '12', '-c', '1', '-m', '4', '-H', `user-agent: ${UA}-live`, `${base}/small.txt`, `${base}/nope`]);
  const up = `http://127.0.0.1:${upPort}`;
  await runOk('curl', ['-sS', '-o', '/dev/null', '-o', '/dev/null', '--http2', `${up}/small.txt`, `${up}/data.json`]);
  await runOk('curl', ['-sS', '-o', '/dev/null', '--http2', '--resolve', `${NAME}:${tlsPort}:127.0.0.1`, '--cacert', pki.caCert, `https://${NAME}:${tlsPort}/small.txt`]);
  const ngLog = (await ng.waitForEntries(ngBefore + 13)).slice(ngBefore);
  const h2oLog2 = (await h2o.waitForEntries(h2oBefore + 2)).slice(h2oBefore);
  const stopped = await wl.stop('SIGINT');
  assert.equal(stopped.code, 0, stopped.stderr);
  const all = parseJsonLines(stopped.stdout);
  const http = all.filter((x) => x.record === 'l7');
  const tls = all.filter((x) => x.record === 'tls');
  const ngH2 = ngLog.filter((e) => e.server_port === h2cPort);
  assert.deepEqual(
    http.filter((r) => r.dst_port === h2cPort).map((r) => `${r.src_port} ${r.method} ${r.uri} ${r.status} ${r.user_agent}`).sort(),
    ngH2.map((e) => `${e.remote_port} ${e.request_method} ${e.request_uri} ${e.status} ${e.http_user_agent}`).sort(),
  );
  for (const e of h2oLog2) {
    const r = http.find((x) => x.dst_port === upPort && x.src_port === e.remote_port && x.req_id === e.stream_id);
    assert.ok(r, `no record for h2o's stream ${e.stream_id}`);
    assert.deepEqual([r.method, r.uri, r.status, r.version], [e.method, e.uri, e.status, 'HTTP/2.0']);
  }
  for (const r of http) {
    assert.deepEqual([r.incomplete, r.anomalies, r.ifname], [null, [], 'lo']);
    assert.equal(r.l7_trace_id, `${r.req_seq}_${r.resp_seq}`);
  }
  assert.equal(tls.length, 1);
  assert.deepEqual([tls[0]!.sni, tls[0]!.alpn, tls[0]!.ifname, tls[0]!.tls_version], [NAME, ['h2', 'http/1.1'], 'lo', 'TLS 1.3']);
  assert.equal(typeof tls[0]!.netns, 'number');
  assert.deepEqual(stopped.summary?.h2, { connections: 2, streams: http.length, framesSkipped: 0, unreliable: 0 });
  assert.deepEqual(stopped.summary?.tls, { connections: 1, notParsed: 0 });
  assert.equal(stopped.summary?.notHttp, 0);
});
