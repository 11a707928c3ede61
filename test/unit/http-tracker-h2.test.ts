/**
 * Passive HTTP/2 in the capture tracker, from test/fixtures/h2c.pcap (tcpdump on lo: h2load -n 6 -c 1 -m 3 with
 * prior knowledge against nginx's `listen … http2` port, and curl --http2 (h2c upgrade) for two URLs on one
 * connection against h2o; h2c.pcap.json is tshark's decoding of every HEADERS frame): every stream a record, equal
 * to tshark's; the same whatever the segmentation; req_seq/resp_seq at the HEADERS frames; a lost segment marks
 * what HPACK could not vouch for and is counted; the text lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { HttpTracker } from '../../src/correlate/http-tracker.js';
import { toHttpRecord, type HttpRecord } from '../../src/sinks/schema.js';
import { TextFormatter } from '../../src/sinks/text.js';
import type { TransportSegment } from '../../src/records.js';
import { fixturesDir } from '../helpers/paths.js';
import { pcapSegments } from '../helpers/pcap-segments.js';
import { Recorder } from '../helpers/tcp-conv.js';

interface TsharkHeaders { srcPort: number; dstPort: number; streamId: number; fields: Record<string, string> }

const segs = pcapSegments(path.join(fixturesDir, 'h2c.pcap'));
const tshark = JSON.parse(fs.readFileSync(path.join(fixturesDir, 'h2c.pcap.json'), 'utf8')) as TsharkHeaders[];
/** the nginx (prior knowledge) and h2o (upgrade) server ports */
const NGINX = 37285;
const H2O = 45791;

function run(input: TransportSegment[]): { recs: HttpRecord[]; r: Recorder; t: HttpTracker } {
  const r = new Recorder();
  const t = new HttpTracker({ reassembly: true, servicePorts: 'any', localAddrs: new Set(['127.0.0.1']) }, r);
  for (const s of input) t.onSegment(s);
  t.finish();
  return { recs: r.txs.map((tx) => toHttpRecord(tx)), r, t };
}

/** every payload re-cut into mss-byte segments */
function recut(input: TransportSegment[], mss: number): TransportSegment[] {
  const out: TransportSegment[] = [];
  for (const s of input) {
    if (s.payload.length <= mss) { out.push(s); continue; }
    for (let i = 0; i < s.payload.length; i += mss) {
      const p = s.payload.subarray(i, Math.min(s.payload.length, i + mss));
      out.push({ ...s, seq: (s.seq + i) >>> 0, payload: p, payloadLen: p.length });
    }
  }
  return out;
}

const whole = run(segs);

test('every stream is one record, equal to tshark\'s HEADERS frames (prior knowledge and h2c upgrade)', () => {
  const { recs, t } = whole;
  // the requests tshark saw: client HEADERS; the h2c upgrade's stream 1 request is the HTTP/1.1 request
  const reqs = tshark.filter((h) => h.fields[':method'] !== undefined);
  const resps = tshark.filter((h) => h.fields[':status'] !== undefined);
  assert.equal(recs.length, reqs.length + 1, 'one record per stream');
  for (const q of reqs) {
    const rec = recs.find((x) => x.src_port === q.srcPort && x.req_id === q.streamId);
    assert.ok(rec, `no record for stream ${q.streamId} of port ${q.srcPort}`);
    assert.equal(rec.method, q.fields[':method']);
    assert.equal(rec.uri, q.fields[':path']);
    assert.equal(rec.host, q.fields[':authority']);
    assert.equal(rec.user_agent, q.fields['user-agent']);
    assert.equal(rec.version, 'HTTP/2.0');
  }
  for (const s of resps) {
    const rec = recs.find((x) => x.src_port === s.dstPort && x.req_id === s.streamId);
    assert.ok(rec, `no record for the response on stream ${s.streamId} to port ${s.dstPort}`);
    assert.equal(rec.status, Number(s.fields[':status']));
    assert.equal(rec.content_type, s.fields['content-type'] ?? null);
    assert.equal(rec.content_length, s.fields['content-length'] === undefined ? null : Number(s.fields['content-length']));
    assert.equal(rec.res_body_bytes, rec.content_length, 'DATA bytes = content-length');
    assert.equal(rec.res_version, 'HTTP/2.0');
    assert.equal(rec.reason, '');
    assert.equal(rec.incomplete, null);
    assert.deepEqual(rec.anomalies, []);
    assert.ok(rec.latency_ms !== null && rec.latency_ms >= 0);
  }
  // the h2c upgrade: stream 1 is the HTTP/1.1 request, answered 101 then in HTTP/2
  const up = recs.find((x) => x.dst_port === H2O && x.req_id === 1)!;
  assert.deepEqual([up.method, up.uri, up.version, up.status, up.interim, up.user_agent], ['GET', '/small.txt', 'HTTP/2.0', 200, [101], 'curl/7.88.1']);
  // the two connections share nothing: ids per connection
  assert.equal(new Set(recs.filter((x) => x.dst_port === NGINX).map((x) => x.conn_id)).size, 1);
  assert.equal(t.stats.h2Connections, 2);
  assert.equal(t.stats.h2Streams, recs.length);
  assert.equal(t.stats.h2FramesSkipped, 0);
  assert.equal(t.stats.h2UnreliableBlocks, 0);
  assert.equal(t.stats.connectionsNotHttp, 0);
  assert.equal(t.stats.parseErrors, 0);
});

test('req_seq / resp_seq are the TCP sequence numbers of the HEADERS frames\' first bytes; l7_trace_id and conn_trace_id', () => {
  for (const rec of whole.recs) {
    assert.equal(rec.l7_trace_id, `${rec.req_seq}_${rec.resp_seq}`);
    assert.match(rec.conn_trace_id ?? '', /^\d+_\d+$/);
    for (const [seq, port, isReq] of [[rec.req_seq!, rec.src_port, true], [rec.resp_seq!, rec.dst_port, false]] as const) {
      // the segment that carries that byte: a HEADERS frame header (type 1) starts there, on this stream
      const s = segs.find((x) => x.sport === port && x.payload.length > 0 && ((seq - x.seq) >>> 0) < x.payload.length);
      assert.ok(s, `no segment carries ${seq}`);
      const at = (seq - s.seq) >>> 0;
      if (rec.dst_port === H2O && rec.req_id === 1 && isReq) {
        assert.equal(s.payload.toString('latin1', at, at + 4), 'GET ', 'the upgrade request: its request line');
        continue;
      }
      assert.equal(s.payload[at + 3], 1, `${isReq ? 'req' : 'resp'}_seq of stream ${rec.req_id}: a HEADERS frame`);
      assert.equal(s.payload.readUInt32BE(at + 5) & 0x7fffffff, rec.req_id);
    }
  }
});

test('the same records whatever the segmentation (1, 7, 100 bytes)', () => {
  for (const mss of [1, 7, 100]) assert.deepEqual(run(recut(segs, mss)).recs, whole.recs, `mss ${mss}`);
});

test('text lines: CQ with HTTP/2.0 and :authority, CR with HTTP/2.0, the status and an empty reason; the 101 on the wire', () => {
  const f = new TextFormatter(() => 0);
  const lines = [...whole.r.requests.map((e) => [e.req.tsUs, f.requestLine(e)] as const), ...whole.r.responses.map((e) => [e.res.tsUs, f.responseLine(e)] as const)]
    .sort((a, b) => a[0] - b[0]).map((x) => x[1].slice(24));
  assert.ok(lines.some((l) => /^127\.0\.0\.1#\d+ 127\.0\.0\.1#37285 CQ GET \/missing HTTP\/2\.0 127\.0\.0\.1:37285 wirelog-fixture$/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /^127\.0\.0\.1#37285 127\.0\.0\.1#\d+ CR HTTP\/2\.0 404 {2}153 text\/html$/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /CQ GET \/small\.txt HTTP\/1\.1 127\.0\.0\.1:45791 curl/.test(l)), 'the upgrade request as sent');
  assert.ok(lines.some((l) => /CR HTTP\/1\.1 101 Switching Protocols/.test(l)), 'the 101');
  assert.ok(lines.some((l) => /CQ GET \/index\.html HTTP\/2\.0 127\.0\.0\.1:45791 curl/.test(l)));
});

test('a lost server segment with a response HEADERS: that stream has no response, later blocks are marked hpack-unreliable, counted', () => {
  // the first response HEADERS after stream 1's (stream 3's, in its own segment): its dynamic-table entries are lost
  const lost = segs.findIndex((s) => s.sport === NGINX && s.payload.length > 9 && s.payload[3] === 1 && (s.payload.readUInt32BE(5) & 0x7fffffff) === 3);
  assert.ok(lost > 0);
  const { recs, t } = run(segs.filter((_, i) => i !== lost));
  const nginx = recs.filter((x) => x.dst_port === NGINX);
  assert.equal(nginx.length, 6, 'every stream still has a record');
  const s3 = nginx.find((x) => x.req_id === 3)!;
  assert.deepEqual([s3.status, s3.incomplete, s3.res_body_bytes > 0, s3.gap_bytes > 0], [null, 'no-response', true, true]);
  for (const x of nginx.filter((y) => y.req_id > 3)) {
    assert.ok(x.status === 200 || x.status === 404, `stream ${x.req_id}: status from the static table`);
    assert.deepEqual(x.anomalies, ['hpack-unreliable'], `stream ${x.req_id}`);
    assert.equal(x.method, 'GET', 'the client direction is intact');
  }
  assert.deepEqual(nginx.find((x) => x.req_id === 1)!.anomalies, []);
  assert.ok(t.stats.h2UnreliableBlocks >= 4);
  assert.ok(t.stats.h2FramesSkipped >= 1);
  assert.equal(t.stats.gaps, 1);
  assert.equal(t.stats.parseErrorsByCode.WL_ERR_H2_GAP, 1);
  // the other connection is untouched
  assert.deepEqual(recs.filter((x) => x.dst_port === H2O), whole.recs.filter((x) => x.dst_port === H2O));
});

test('a lost client segment with three requests: their responses are logged as no-request, the connection goes on', () => {
  const lost = segs.findIndex((s) => s.dport === NGINX && s.payload.length > 30 && s.payload.includes(Buffer.from([0, 0, 0, 7]), 0) && s.payload[3] === 4);
  assert.ok(lost > 0, 'the segment with SETTINGS ACK and the HEADERS of streams 7, 9, 11');
  const { recs } = run(segs.filter((_, i) => i !== lost));
  const nginx = recs.filter((x) => x.dst_port === NGINX);
  assert.deepEqual(nginx.map((x) => [x.req_id, x.method, x.status, x.incomplete]), [
    [1, 'GET', 200, null], [3, 'GET', 200, null], [5, 'GET', 404, null],
    [7, null, 200, 'no-request'], [9, null, 200, 'no-request'], [11, null, 404, 'no-request'],
  ]);
});

test('a connection that ends mid-stream: the open streams are written incomplete', () => {
  // cut the nginx connection after the segment with stream 3's response HEADERS (stream 1 is complete by then)
  const firstResp = segs.findIndex((s) => s.sport === NGINX && s.payload.length > 9 && s.payload[3] === 1);
  const { recs } = run(segs.slice(0, firstResp + 1).filter((s) => s.sport === NGINX || s.dport === NGINX));
  assert.deepEqual(recs.map((x) => [x.req_id, x.status, x.incomplete]), [[1, 200, null], [3, 200, 'partial-body'], [5, null, 'no-response']]);
});

test('summary line: HTTP/2 and TLS counters only when there were any, parsed back by the test helper', async () => {
  const { summaryLine } = await import('../../src/pipelines/capture.js');
  const { parseSummary } = await import('../helpers/wirelog.js');
  const r = {
    packets: 9, requests: 8, responses: 9, transactions: 8, kernelDrops: 0, gaps: 1, gapBytes: 75, notHttp: 0,
    messagesSkipped: 0, bytesSkipped: 0, parseErrors: { WL_ERR_H2_GAP: 1 }, stoppedBy: 'end' as const,
  };
  assert.ok(!summaryLine(r).includes('HTTP/2') && !summaryLine(r).includes('TLS'));
  const line = summaryLine({ ...r, h2Connections: 2, h2Streams: 8, h2FramesSkipped: 1, h2UnreliableBlocks: 4, tlsConnections: 3, tlsNotParsed: 1, l4Records: 5 });
  assert.match(line, /parse errors \(WL_ERR_H2_GAP=1\), 2 HTTP\/2 connections \(8 streams, 1 frames skipped, 4 header blocks unreliable\), 3 TLS \(1 TLS-like starts not TLS\), 5 L4 records$/);
  const s = parseSummary(line)!;
  assert.deepEqual([s.h2, s.tls, s.l4Records], [{ connections: 2, streams: 8, framesSkipped: 1, unreliable: 4 }, { connections: 3, notParsed: 1 }, 5]);
});
