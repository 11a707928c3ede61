// The zone must be set before the first Date use: the seed's lines are Korea time (httplog's author, UTC+9).
process.env.TZ = 'Asia/Seoul';

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { repoRoot } from '../helpers/paths.js';
import type { ConnInfo, HttpRequestHead, HttpResponseHead, LineKind } from '../../src/records.js';
import { TextSink, TextFormatter } from '../../src/sinks/text.js';
import { LocalTimeFormatter, fixedOffset } from '../../src/sinks/local-time.js';
import type { LineSink } from '../../src/sinks/log-writer.js';

// The four example lines of httplog's README (shared/seeds/httplog-README.txt), kept in the fixtures so that the
// test runs in any clone; where the seed itself is beside the repository, the fixture must still equal it.
const fixturePath = path.join(repoRoot, 'test', 'fixtures', 'httplog-readme-lines.txt');
const seedPath = path.join(path.dirname(repoRoot), 'shared', 'seeds', 'httplog-README.txt');
const TS_LINE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} /;

/** The reference the text sink must reproduce byte for byte. */
function seedLines(): string[] {
  const lines = fs.readFileSync(fixturePath, 'utf8').split('\n').filter((l) => TS_LINE.test(l));
  assert.equal(lines.length, 4);
  if (fs.existsSync(seedPath)) {
    assert.deepEqual(fs.readFileSync(seedPath, 'utf8').split('\n').filter((l) => TS_LINE.test(l)), lines, 'fixture differs from the seed');
  }
  return lines;
}

/** Seoul wall time → µs since the epoch (UTC+9, no DST since 1988), plus sub-millisecond noise to be truncated. */
function seoulUs(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number, extraUs = 0): number {
  return (Date.UTC(y, mo - 1, d, h - 9, mi, s, ms)) * 1000 + extraUs;
}

function conn(kind: 'CQ' | 'SQ', clientIp: string, clientPort: number, serverIp: string, serverPort: number): ConnInfo {
  return { connId: 1, clientIp, clientPort, serverIp, serverPort, family: clientIp.includes(':') ? 6 : 4, kind, decidedBy: 'syn' };
}

function req(tsUs: number, method: string, uri: string, version: string, host?: string, userAgent?: string): HttpRequestHead {
  const headers: Array<[string, string]> = [];
  if (host !== undefined) headers.push(['Host', host]);
  if (userAgent !== undefined) headers.push(['User-Agent', userAgent]);
  return { tsUs, method, uri, version, headers, host, userAgent, chunked: false, headLen: 100 };
}

function res(tsUs: number, version: string, status: number, reason: string, contentLength?: number, contentType?: string): HttpResponseHead {
  const headers: Array<[string, string]> = [];
  if (contentLength !== undefined) headers.push(['Content-Length', String(contentLength)]);
  if (contentType !== undefined) headers.push(['Content-Type', contentType]);
  return { tsUs, version, status, reason, headers, contentLength, contentType, chunked: false, headLen: 80 };
}

class Recorder implements LineSink {
  lines: Array<{ line: string; tsUs: number; kind: LineKind }> = [];
  write(line: string, tsUs: number, kind: LineKind): void {
    this.lines.push({ line, tsUs, kind });
  }
}

const UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/76.0.3809.132 Safari/537.36';
const META_URI = '/computeMetadata/v1/instance/virtual-clock/drift-token?timeout_sec=60&last_etag=c6a7bbfe995acc98&alt=json&recursive=False&wait_for_change=True';

function seedEvents(sink: TextSink): void {
  const c1 = conn('CQ', '223.39.188.71', 50905, '10.140.0.2', 80);
  const q1 = req(seoulUs(2019, 9, 1, 14, 16, 51, 2, 999), 'GET', '/', 'HTTP/1.1', 'cloud.sukmoonlee.com', UA);
  sink.request({ conn: c1, reqId: 1, req: q1 });
  sink.response({ conn: c1, reqId: 1, req: q1, res: res(seoulUs(2019, 9, 1, 14, 16, 51, 3, 1), 'HTTP/1.1', 302, 'Found', 0, 'text/html; charset=UTF-8') });
  const c2 = conn('SQ', '10.140.0.2', 57154, '169.254.169.254', 80);
  sink.request({ conn: c2, reqId: 1, req: req(seoulUs(2019, 9, 1, 14, 17, 0, 573), 'GET', META_URI, 'HTTP/1.1', 'etadata.google.internal', 'Python-urllib/2.7') });
  const c3 = conn('SQ', '10.140.0.2', 57152, '169.254.169.254', 80);
  sink.response({ conn: c3, reqId: 1, res: res(seoulUs(2019, 9, 1, 14, 17, 54, 337, 500), 'HTTP/1.1', 200, 'OK', 3274, 'application/json') });
}

test('text lines are byte-exact with the seed README (system zone from TZ)', () => {
  const rec = new Recorder();
  seedEvents(new TextSink(rec));
  assert.deepEqual(rec.lines.map((l) => l.line), seedLines());
  assert.deepEqual(rec.lines.map((l) => l.kind), ['CQ', 'CR', 'SQ', 'SR']);
});

test('text lines with an explicit +09:00 offset match too (zone injected, not read from TZ)', () => {
  const rec = new Recorder();
  seedEvents(new TextSink(rec, { offset: fixedOffset(9 * 60) }));
  assert.deepEqual(rec.lines.map((l) => l.line), seedLines());
  // and a different offset moves only the time
  const utc = new Recorder();
  seedEvents(new TextSink(utc, { offset: fixedOffset(0) }));
  assert.equal(utc.lines[0].line, seedLines()[0].replace('2019-09-01 14:16:51.002', '2019-09-01 05:16:51.002'));
});

test('missing fields are empty strings: two spaces, trailing spaces kept', () => {
  const f = new TextFormatter(fixedOffset(0));
  const ts = Date.UTC(2020, 0, 2, 3, 4, 5, 6) * 1000;
  const c = conn('CQ', '192.0.2.1', 40000, '192.0.2.2', 8080);
  assert.equal(f.requestLine({ conn: c, reqId: 1, req: req(ts, 'GET', '/x', 'HTTP/1.0') }), '2020-01-02 03:04:05.006 192.0.2.1#40000 192.0.2.2#8080 CQ GET /x HTTP/1.0  ');
  assert.equal(
    f.requestLine({ conn: c, reqId: 1, req: req(ts, 'GET', '/x', 'HTTP/1.0', undefined, 'curl/8') }),
    '2020-01-02 03:04:05.006 192.0.2.1#40000 192.0.2.2#8080 CQ GET /x HTTP/1.0  curl/8',
  );
  // chunked response: no Content-Length → empty field; no type → trailing empty field
  const chunked = { ...res(ts, 'HTTP/1.1', 200, 'OK'), chunked: true };
  assert.equal(f.responseLine({ conn: c, reqId: 1, res: chunked }), '2020-01-02 03:04:05.006 192.0.2.2#8080 192.0.2.1#40000 CR HTTP/1.1 200 OK  ');
  // an empty reason phrase is allowed by RFC 9112
  assert.equal(f.responseLine({ conn: c, reqId: 1, res: res(ts, 'HTTP/1.1', 204, '', undefined, 'text/plain') }), '2020-01-02 03:04:05.006 192.0.2.2#8080 192.0.2.1#40000 CR HTTP/1.1 204   text/plain');
});

test('Content-Length the parser could not read is printed as sent', () => {
  const f = new TextFormatter(fixedOffset(0));
  const r = res(0, 'HTTP/1.1', 200, 'OK');
  r.headers.push(['content-length', ' 12abc ']);
  assert.equal(f.responseLine({ conn: conn('SQ', '10.0.0.1', 1, '10.0.0.2', 80), reqId: 1, res: r }), '1970-01-01 00:00:00.000 10.0.0.2#80 10.0.0.1#1 SR HTTP/1.1 200 OK 12abc ');
});

test('IPv6 addresses are printed plainly', () => {
  const rec = new Recorder();
  const sink = new TextSink(rec, { offset: fixedOffset(0) });
  const c = conn('CQ', '::1', 51000, '::1', 8080);
  const ts = Date.UTC(2026, 10, 23, 10, 0, 0, 123) * 1000;
  sink.request({ conn: c, reqId: 1, req: req(ts, 'POST', '/api', 'HTTP/1.1', '[::1]:8080', 'curl/7.88.1') });
  sink.response({ conn: c, reqId: 1, res: res(ts + 1500, 'HTTP/1.1', 201, 'Created', 2, 'application/json') });
  assert.deepEqual(rec.lines.map((l) => l.line), [
    '2026-11-23 10:00:00.123 ::1#51000 ::1#8080 CQ POST /api HTTP/1.1 [::1]:8080 curl/7.88.1',
    '2026-11-23 10:00:00.124 ::1#8080 ::1#51000 CR HTTP/1.1 201 Created 2 application/json',
  ]);
});

test('kinds route by connection side; interim 1xx gets its own line; transaction() writes nothing', () => {
  const rec = new Recorder();
  const sink = new TextSink(rec, { offset: fixedOffset(0) });
  const cq = conn('CQ', '2001:db8::2', 1234, '2001:db8::1', 80);
  const sq = conn('SQ', '10.0.0.1', 5555, '93.184.216.34', 80);
  const q = req(1_000_000, 'PUT', '/u', 'HTTP/1.1', 'h', 'ua');
  sink.request({ conn: cq, reqId: 1, req: q });
  sink.response({ conn: cq, reqId: 1, req: q, res: res(1_100_000, 'HTTP/1.1', 100, 'Continue') });
  sink.response({ conn: cq, reqId: 1, req: q, res: res(1_200_000, 'HTTP/1.1', 200, 'OK', 0) });
  sink.request({ conn: sq, reqId: 1, req: q });
  sink.response({ conn: sq, reqId: 1, req: q, res: res(1_300_000, 'HTTP/1.1', 404, 'Not Found', 9, 'text/plain') });
  sink.transaction({ conn: sq, reqId: 1, req: q, interim: [], gapBytes: 0, reqBodyBytes: 0, resBodyBytes: 0 });
  assert.deepEqual(rec.lines.map((l) => l.kind), ['CQ', 'CR', 'CR', 'SQ', 'SR']);
  assert.equal(rec.lines[1].line, '1970-01-01 00:00:01.100 2001:db8::1#80 2001:db8::2#1234 CR HTTP/1.1 100 Continue  ');
  // the line's own time is what the writer files it under
  assert.deepEqual(rec.lines.map((l) => l.tsUs), [1_000_000, 1_100_000, 1_200_000, 1_000_000, 1_300_000]);
});

test('a CR/LF a peer smuggles into a field cannot break the line', () => {
  const f = new TextFormatter(fixedOffset(0));
  const line = f.requestLine({ conn: conn('CQ', '10.0.0.1', 1, '10.0.0.2', 80), reqId: 1, req: req(0, 'GET', '/a\r\nx', 'HTTP/1.1', 'h\n', 'u') });
  assert.ok(!/[\r\n]/.test(line));
  assert.equal(line, '1970-01-01 00:00:00.000 10.0.0.1#1 10.0.0.2#80 CQ GET /a  x HTTP/1.1 h  u');
});

test('local time stamps equal Intl formatting for any instant, across DST changes (America/New_York)', () => {
  const zone = 'America/New_York';
  const intl = new Intl.DateTimeFormat('en-CA', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  const offset = (utcMs: number): number => {
    const p = Object.fromEntries(intl.formatToParts(new Date(utcMs)).map((x) => [x.type, x.value]));
    return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - Math.floor(utcMs / 1000) * 1000;
  };
  const fmt = new LocalTimeFormatter(offset);
  const reference = (us: number): string => {
    const ms = Math.floor(us / 1000);
    const p = Object.fromEntries(intl.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}.${String(ms % 1000).padStart(3, '0')}`;
  };
  // the spring-forward second: 01:59:59.999 EST, then 03:00:00.000 EDT
  const springUs = Date.UTC(2019, 2, 10, 7, 0, 0, 0) * 1000;
  assert.equal(fmt.stamp(springUs - 1), '2019-03-10 01:59:59.999');
  assert.equal(fmt.stamp(springUs), '2019-03-10 03:00:00.000');
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4102444800 * 1_000_000 }), (us) => {
      assert.equal(fmt.stamp(us), reference(us));
      assert.equal(fmt.day(us), reference(us).slice(0, 10).replace(/-/g, ''));
    }),
    { numRuns: 2000 },
  );
});
