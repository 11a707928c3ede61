import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { repoRoot } from '../helpers/paths.js';
import type { ConnInfo, HttpTransaction, Incomplete, LineKind } from '../../src/records.js';
import { JsonlSink } from '../../src/sinks/jsonl.js';
import { HTTP_RECORD_FIELDS, serializeTransaction, toHttpRecord } from '../../src/sinks/schema.js';
import { IsoTimeFormatter } from '../../src/sinks/local-time.js';

const conn: ConnInfo = {
  connId: 7, clientIp: '10.0.0.5', clientPort: 41000, serverIp: '10.0.0.1', serverPort: 8080, family: 4, kind: 'CQ',
  ifname: 'lo', netns: 4026531840, decidedBy: 'syn',
};

const reqTs = Date.UTC(2026, 10, 23, 10, 0, 0, 123) * 1000 + 456;

function fullTx(): HttpTransaction {
  return {
    conn,
    reqId: 3,
    req: {
      tsUs: reqTs, method: 'POST', uri: '/submit?a="b"', version: 'HTTP/1.1', headers: [], host: 'example.test',
      userAgent: 'curl/7.88.1 \u00e9\u2603', contentLength: 11, contentType: 'application/x-www-form-urlencoded', chunked: false, headLen: 150,
    },
    res: { tsUs: reqTs + 2500, version: 'HTTP/1.1', status: 201, reason: 'Created', headers: [], contentLength: 2, contentType: 'application/json', chunked: false, headLen: 90 },
    interim: [{ tsUs: reqTs + 1000, version: 'HTTP/1.1', status: 100, reason: 'Continue', headers: [], chunked: false, headLen: 25 }],
    latencyMs: 1,
    gapBytes: 0,
    reqBodyBytes: 11,
    resBodyBytes: 2,
  };
}

test('a full transaction: every field, in the documented order, with the documented types', () => {
  const rec = JSON.parse(serializeTransaction(fullTx(), new IsoTimeFormatter())) as Record<string, unknown>;
  assert.deepEqual(Object.keys(rec), [...HTTP_RECORD_FIELDS]);
  assert.deepEqual(rec, {
    ts: '2026-11-23T10:00:00.123456Z', kind: 'CQ', conn_id: 7, req_id: 3,
    src_ip: '10.0.0.5', src_port: 41000, dst_ip: '10.0.0.1', dst_port: 8080,
    method: 'POST', uri: '/submit?a="b"', version: 'HTTP/1.1', host: 'example.test', user_agent: 'curl/7.88.1 \u00e9\u2603',
    status: 201, reason: 'Created', content_length: 2, content_type: 'application/json', latency_ms: 1,
    ifname: 'lo', netns: 4026531840, pid: null, comm: null,
    res_ts: '2026-11-23T10:00:00.125956Z', res_version: 'HTTP/1.1', req_content_length: 11,
    req_content_type: 'application/x-www-form-urlencoded', req_body_bytes: 11, res_body_bytes: 2, interim: [100],
    gap_bytes: 0, incomplete: null, anomalies: [], req_seq: null, resp_seq: null, l7_trace_id: null, conn_trace_id: null,
    netns_name: null, container_id: null, pod_uid: null, hops: null, record: 'l7',
  });
});

test('a request without a response: response fields are null, ts is the request, incomplete says why', () => {
  const tx: HttpTransaction = { ...fullTx(), res: undefined, interim: [], latencyMs: undefined, incomplete: 'no-response', resBodyBytes: 0 };
  const rec = JSON.parse(serializeTransaction(tx, new IsoTimeFormatter())) as Record<string, unknown>;
  assert.deepEqual(Object.keys(rec), [...HTTP_RECORD_FIELDS]);
  for (const k of ['status', 'reason', 'content_length', 'content_type', 'latency_ms', 'res_ts', 'res_version']) assert.equal(rec[k], null, k);
  assert.equal(rec.ts, '2026-11-23T10:00:00.123456Z');
  assert.equal(rec.incomplete, 'no-response');
});

test('a response without a request: ts is the response time, request fields null, no ifname → null', () => {
  const c: ConnInfo = { ...conn, ifname: undefined, netns: undefined, kind: 'SQ' };
  const tx: HttpTransaction = { ...fullTx(), conn: c, req: undefined, latencyMs: undefined, interim: [], incomplete: 'no-request' };
  const rec = JSON.parse(serializeTransaction(tx, new IsoTimeFormatter())) as Record<string, unknown>;
  assert.equal(rec.ts, '2026-11-23T10:00:00.125956Z');
  assert.equal(rec.kind, 'SQ');
  for (const k of ['method', 'uri', 'version', 'host', 'user_agent', 'latency_ms', 'ifname', 'netns', 'req_content_length', 'req_content_type'])
    assert.equal(rec[k], null, k);
});

test('latency is derived from the heads when the tracker gave none', () => {
  const tx: HttpTransaction = { ...fullTx(), latencyMs: undefined, interim: [] };
  assert.equal(toHttpRecord(tx).latency_ms, 2.5);
});

test('the serialiser equals JSON.stringify of the record object, for arbitrary strings and numbers', () => {
  const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
  fc.assert(
    fc.property(
      fc.record({
        ts: fc.integer({ min: 0, max: 4102444800 * 1_000_000 }),
        s: fc.string({ unit: 'binary' }),
        n: opt(fc.nat()),
        hasRes: fc.boolean(),
        incomplete: opt(fc.string()),
      }),
      ({ ts, s, n, hasRes, incomplete }) => {
        const base = fullTx();
        const tx: HttpTransaction = {
          ...base,
          req: { ...base.req!, tsUs: ts, uri: s, host: s, userAgent: undefined, contentLength: n },
          res: hasRes ? { ...base.res!, tsUs: ts + 7, reason: s, contentLength: n } : undefined,
          // any string: the serializer's escaping is what is under test, not the union
          incomplete: incomplete as Incomplete | undefined,
        };
        const iso = new IsoTimeFormatter();
        assert.equal(serializeTransaction(tx, iso), JSON.stringify(toHttpRecord(tx, iso)));
      },
    ),
    { numRuns: 500 },
  );
});

test('ISO timestamps have microseconds and agree with Date.toISOString to the millisecond', () => {
  const iso = new IsoTimeFormatter();
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4102444800 * 1_000_000 }), (us) => {
      const s = iso.format(us);
      assert.match(s, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      assert.equal(s.slice(0, 23), new Date(Math.floor(us / 1000)).toISOString().slice(0, 23));
      assert.equal(Number(s.slice(20, 26)), us % 1_000_000);
    }),
    { numRuns: 2000 },
  );
});

test('the sink writes one line per transaction, filed under the request time and kind', () => {
  const got: Array<{ line: string; tsUs: number; kind: LineKind }> = [];
  const sink = new JsonlSink({ write: (line, tsUs, kind) => got.push({ line, tsUs, kind }) });
  const tx = fullTx();
  sink.request({ conn, reqId: 3, req: tx.req! });
  sink.response({ conn, reqId: 3, res: tx.res! });
  sink.transaction(tx);
  assert.equal(got.length, 1);
  assert.equal(got[0].tsUs, reqTs);
  assert.equal(got[0].kind, 'CQ');
  assert.ok(!got[0].line.includes('\n'));
  assert.equal(JSON.parse(got[0].line).req_id, 3);
});

test('docs/schema.md documents exactly the fields the sink writes', () => {
  const all = fs.readFileSync(path.join(repoRoot, 'docs', 'schema.md'), 'utf8');
  const at = all.indexOf('\n## L4 records\n');
  assert.ok(at > 0, 'schema.md has its L4 section');
  const doc = all.slice(0, at); // the HTTP record's part
  // the field table: rows start with | `name` |
  const documented = [...doc.matchAll(/^\|\s*`([a-z0-9_]+)`\s*\|/gm)].map((m) => m[1]);
  assert.deepEqual(documented, [...HTTP_RECORD_FIELDS]);
});
