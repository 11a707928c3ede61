/**
 * The trace sinks: h2olog lines byte-exact against h2olog's own README sample, -t, --filter, every --headers mode and
 * the redaction, the JSON lines record, and the CLI's flag checks.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { LineKind, TraceConnInfo, TraceRequest, TraceResponse, TraceSink } from '../../src/records.js';
import type { LineSink } from '../../src/sinks/log-writer.js';
import { H2ologSink, h2ologLine, parseH2ologTypes } from '../../src/sinks/h2olog.js';
import { TraceJsonlSink, toTraceRecord } from '../../src/sinks/trace-jsonl.js';
import { applyHeaderMode, isSecretHeader, REDACTED } from '../../src/sinks/redact.js';
import { HTTP_RECORD_FIELDS } from '../../src/sinks/schema.js';
import { TraceTracker } from '../../src/correlate/trace/tracker.js';
import { filterTraceSink, parseTraceFilter, TraceFilterError } from '../../src/sinks/filter.js';
import { resolveTrace } from '../../src/cli/trace.js';
import { UsageError } from '../../src/cli/args.js';

class Lines implements LineSink {
  lines: string[] = [];
  write(line: string, _ts: number, _k: LineKind): void { this.lines.push(line); }
}

const conn = (o: Partial<TraceConnInfo> = {}): TraceConnInfo => ({
  connId: 888, pid: 42, comm: 'h2o', fd: 9, role: 'server', tls: true, protocol: 'HTTP/2.0', family: 4,
  clientIp: '10.0.0.2', clientPort: 50000, serverIp: '10.0.0.1', serverPort: 443, midStream: false, ...o,
});

// The sample in h2olog's README (github.com/toru/h2olog, "Quickstart"), copied verbatim.
const H2OLOG_README_SAMPLE = [
  '888 1 RxProtocol HTTP/2.0',
  '888 1 RxHeader   :authority torumk.com',
  '888 1 RxHeader   :method GET',
  '888 1 RxHeader   :path /',
  '888 1 RxHeader   :scheme https',
  '888 1 TxStatus   200',
];

test('h2olog lines are byte-exact with the h2olog README sample', () => {
  const out = new Lines();
  const s = new H2ologSink(out);
  const c = conn();
  const req: TraceRequest = { tsUs: 1, protocol: 'HTTP/2.0', streamId: 1, method: 'GET', path: '/', authority: 'torumk.com', scheme: 'https', headers: [] };
  s.request({ conn: c, reqId: 1, req });
  s.response({ conn: c, reqId: 1, req, res: { tsUs: 2, protocol: 'HTTP/2.0', streamId: 1, status: 200, reason: '', headers: [] } });
  assert.deepEqual(out.lines, H2OLOG_README_SAMPLE);
  // every NAME is padded to the width of RxProtocol
  for (const t of ['RxProtocol', 'RxHeader', 'TxStatus', 'TxHeader', 'TxProtocol', 'RxStatus'] as const) {
    assert.equal(h2ologLine(1, 2, t, 'v'), `1 2 ${t}${' '.repeat(10 - t.length)} v`);
  }
});

function run(sinkOf: (out: Lines) => TraceSink, role: 'server' | 'client' = 'server', reqHeaders?: Array<[string, string]>): string[] {
  const out = new Lines();
  const s = sinkOf(out);
  const c = conn({ connId: 3, role, protocol: 'HTTP/1.1', tls: false });
  const req: TraceRequest = {
    tsUs: 1, protocol: 'HTTP/1.1', method: 'GET', path: '/api/x', authority: 'example.com', scheme: 'http',
    headers: reqHeaders ?? [['User-Agent', 'curl/8'], ['Authorization', 'Bearer abc'], ['Cookie', 'a=1'], ['Proxy-Authorization', 'Basic x']],
  };
  const res: TraceResponse = { tsUs: 2, protocol: 'HTTP/1.1', status: 404, reason: 'Not Found', headers: [['Content-Type', 'text/html'], ['Set-Cookie', 'b=2']] };
  s.request({ conn: c, reqId: 1, req });
  s.response({ conn: c, reqId: 1, req, res });
  s.transaction({ conn: c, reqId: 1, req, res, interim: [], reqBodyBytes: 0, resBodyBytes: 0, latencyMs: 0.001 });
  return out.lines;
}

test('traced server and traced client lines, names lower-cased, credentials redacted by default', () => {
  assert.deepEqual(run((o) => new H2ologSink(o)), [
    '3 1 RxProtocol HTTP/1.1', '3 1 RxHeader   :authority example.com', '3 1 RxHeader   :method GET',
    '3 1 RxHeader   :path /api/x', '3 1 RxHeader   :scheme http', '3 1 RxHeader   user-agent curl/8',
    `3 1 RxHeader   authorization ${REDACTED}`, `3 1 RxHeader   cookie ${REDACTED}`, `3 1 RxHeader   proxy-authorization ${REDACTED}`,
    '3 1 TxStatus   404', '3 1 TxHeader   content-type text/html', `3 1 TxHeader   set-cookie ${REDACTED}`,
  ]);
  assert.deepEqual(run((o) => new H2ologSink(o), 'client'), [
    '3 1 TxProtocol HTTP/1.1', '3 1 TxHeader   :authority example.com', '3 1 TxHeader   :method GET',
    '3 1 TxHeader   :path /api/x', '3 1 TxHeader   :scheme http', '3 1 TxHeader   user-agent curl/8',
    `3 1 TxHeader   authorization ${REDACTED}`, `3 1 TxHeader   cookie ${REDACTED}`, `3 1 TxHeader   proxy-authorization ${REDACTED}`,
    '3 1 RxStatus   404', '3 1 RxHeader   content-type text/html', `3 1 RxHeader   set-cookie ${REDACTED}`,
  ]);
});

test('--headers modes: values shows secrets, names, length, none (pseudo-headers always shown)', () => {
  const values = run((o) => new H2ologSink(o, { headers: 'values' }));
  assert.ok(values.includes('3 1 RxHeader   authorization Bearer abc'));
  assert.ok(values.includes('3 1 TxHeader   set-cookie b=2'));
  assert.ok(!values.some((l) => l.includes(REDACTED)));
  const names = run((o) => new H2ologSink(o, { headers: 'names' }));
  assert.ok(names.includes('3 1 RxHeader   authorization'));
  assert.ok(names.includes('3 1 RxHeader   :path /api/x'));
  assert.ok(!names.some((l) => l.includes('curl/8') || l.includes('abc') || l.includes('text/html')));
  const length = run((o) => new H2ologSink(o, { headers: 'length' }));
  assert.ok(length.includes(`3 1 RxHeader   authorization ${'Bearer abc'.length}`));
  assert.ok(length.includes(`3 1 TxHeader   content-type ${'text/html'.length}`));
  const none = run((o) => new H2ologSink(o, { headers: 'none' }));
  assert.deepEqual(none, [
    '3 1 RxProtocol HTTP/1.1', '3 1 RxHeader   :authority example.com', '3 1 RxHeader   :method GET',
    '3 1 RxHeader   :path /api/x', '3 1 RxHeader   :scheme http', '3 1 TxStatus   404',
  ]);
  assert.ok(isSecretHeader('AUTHORIZATION') && isSecretHeader('set-cookie') && !isSecretHeader('x-authorization'));
  assert.deepEqual(applyHeaderMode('redacted', [['Cookie', 'x'], ['A', 'b']]), [['Cookie', REDACTED], ['A', 'b']]);
});

test('-t keeps only the listed line types', () => {
  const { types, bad } = parseH2ologTypes('TxStatus,rxprotocol');
  assert.equal(bad, undefined);
  assert.deepEqual(run((o) => new H2ologSink(o, { types })), ['3 1 RxProtocol HTTP/1.1', '3 1 TxStatus   404']);
  assert.equal(parseH2ologTypes('TxStatus,Nope').bad, 'Nope');
});

test('--filter: method, host (port ignored), path prefix, status class and alternatives; status holds the request lines', () => {
  const h = (expr: string): string[] => run((o) => filterTraceSink(parseTraceFilter(expr), new H2ologSink(o, { types: new Set(['RxProtocol', 'TxStatus']) })));
  const both = ['3 1 RxProtocol HTTP/1.1', '3 1 TxStatus   404'];
  assert.deepEqual(h('method=GET'), both);
  assert.deepEqual(h('method=post'), []);
  assert.deepEqual(h('method=POST|get,host=EXAMPLE.com'), both);
  assert.deepEqual(h('host=other.com'), []);
  assert.deepEqual(h('path=/api'), both);
  assert.deepEqual(h('path=/apx'), []);
  assert.deepEqual(h('status=4xx'), both);
  assert.deepEqual(h('status=2xx|500'), []);
  assert.deepEqual(h('status=404,path=/api'), both);
  const hostPort = (expr: string): number => {
    const out = new Lines();
    const s = filterTraceSink(parseTraceFilter(expr), new H2ologSink(out));
    s.request({ conn: conn(), reqId: 1, req: { tsUs: 1, protocol: 'HTTP/2.0', authority: 'example.com:8443', method: 'GET', path: '/', headers: [] } });
    return out.lines.length;
  };
  assert.ok(hostPort('host=example.com') > 0);
  assert.equal(hostPort('host=example.org'), 0);
  for (const bad of ['status=20', 'color=red', 'method', 'path=']) assert.throws(() => parseTraceFilter(bad), TraceFilterError, bad);
});

test('--filter takes the filter language (docs/query.md): response fields hold the request lines; errors name the column', () => {
  const h = (expr: string): string[] => run((o) => filterTraceSink(parseTraceFilter(expr), new H2ologSink(o, { types: new Set(['RxProtocol', 'TxStatus']) })));
  const both = ['3 1 RxProtocol HTTP/1.1', '3 1 TxStatus   404'];
  assert.deepEqual(h('status >= 400 and method = get'), both);
  assert.deepEqual(h('status = 4xx and not (host = a or host = b)'), both);
  assert.deepEqual(h('path ^= "/api/" and dst_ip in 10.0.0.0/8 and src_port > 1024 and comm = h2o'), both);
  assert.deepEqual(h('path = /api'), []); // with blanks, the language: = is equality
  assert.deepEqual(h('path = /api/x or status = 500'), both);
  assert.deepEqual(h('status != 404 or method = POST'), []);
  assert.deepEqual(h('host ~ "^example\\."'), both);
  assert.equal(parseTraceFilter('method = GET').needResponse, false);
  assert.equal(parseTraceFilter('method = GET or status = 200').needResponse, true);
  assert.throws(() => parseTraceFilter('latency_ms > 250'), (e: unknown) => e instanceof TraceFilterError && e.column === 0 && /only known when the transaction ends/.test(e.message));
  assert.throws(() => parseTraceFilter('status = 404 and colour = red'), (e: unknown) => e instanceof TraceFilterError && e.column === 17 && /unknown field 'colour'/.test(e.message));
});

test('jsonl: schema.md fields in order with pid/comm, then tls, protocol, role, stream_id and the headers after the mode', () => {
  const lines = run((o) => new TraceJsonlSink(o));
  assert.equal(lines.length, 1);
  const r = JSON.parse(lines[0]) as Record<string, unknown>;
  assert.deepEqual(Object.keys(r), [...HTTP_RECORD_FIELDS, 'tls', 'protocol', 'role', 'stream_id', 'req_headers', 'res_headers', 'req_trailers', 'res_trailers']);
  assert.equal(r.kind, 'CQ');
  assert.equal(r.method, 'GET');
  assert.equal(r.uri, '/api/x');
  assert.equal(r.host, 'example.com');
  assert.equal(r.status, 404);
  assert.equal(r.pid, 42);
  assert.equal(r.comm, 'h2o');
  assert.equal(r.protocol, 'HTTP/1.1');
  assert.equal(r.role, 'server');
  assert.equal(r.stream_id, null);
  assert.equal(r.tls, false);
  assert.deepEqual(r.req_headers, [['User-Agent', 'curl/8'], ['Authorization', REDACTED], ['Cookie', REDACTED], ['Proxy-Authorization', REDACTED]]);
  assert.deepEqual(r.res_headers, [['Content-Type', 'text/html'], ['Set-Cookie', REDACTED]]);
  const client = JSON.parse(run((o) => new TraceJsonlSink(o, 'names'), 'client')[0]) as Record<string, unknown>;
  assert.equal(client.kind, 'SQ');
  assert.equal(client.role, 'client');
  assert.deepEqual(client.res_headers, [['Content-Type', ''], ['Set-Cookie', '']]);
  const rec = toTraceRecord({ conn: conn(), reqId: 5, interim: [], reqBodyBytes: 0, resBodyBytes: 0, incomplete: 'no-response',
    req: { tsUs: 1, protocol: 'HTTP/2.0', streamId: 5, method: 'GET', path: '/', authority: 'a', scheme: 'https', headers: [] } });
  assert.equal(rec.stream_id, 5);
  assert.equal(rec.protocol, 'HTTP/2.0');
  assert.equal(rec.tls, true);
  assert.equal(rec.status, null);
});

test('tracker → h2olog end to end: HTTP/1 server lines from synthetic events', () => {
  const out = new Lines();
  const t = new TraceTracker(new H2ologSink(out));
  const base = { tid: 1, pid: 1, comm: 'x', fd: 4, source: 'syscall' as const, syscall: 'read' as const, family: 4 as const,
    localAddr: '127.0.0.1', localPort: 80, remoteAddr: '127.0.0.1', remotePort: 5555, truncated: false, tlsBytes: false,
    fdGuessed: false, sockId: 0n, ssl: 0n };
  const ev = (direction: 'in' | 'out', s: string) => ({ ...base, direction, tsUs: 10, enterUs: 9, len: s.length, payload: Buffer.from(s) });
  t.data(ev('in', 'GET /p?q=1 HTTP/1.0\r\nHost: h.example\r\nAccept: */*\r\n\r\n'));
  t.data(ev('out', 'HTTP/1.0 301 Moved\r\nLocation: /x\r\n\r\n'));
  t.end();
  assert.deepEqual(out.lines, [
    '1 1 RxProtocol HTTP/1.0', '1 1 RxHeader   :authority h.example', '1 1 RxHeader   :method GET', '1 1 RxHeader   :path /p?q=1',
    '1 1 RxHeader   :scheme http', '1 1 RxHeader   accept */*', '1 1 TxStatus   301', '1 1 TxHeader   location /x',
  ]);
});

test('CLI flags: pids, comma lists, usage errors name the flag', () => {
  const s = resolveTrace(['-p', '12,13', '-p', '14', '--format', 'jsonl', '--headers', 'names', '-t', 'TxStatus', '--no-tls', '-s', '100']);
  if (s === 'help') assert.fail('not help');
  assert.deepEqual(s.pids, [12, 13, 14]);
  assert.equal(s.format, 'jsonl');
  assert.equal(s.headers, 'names');
  assert.equal(s.tls, false);
  assert.equal(s.snaplen, 100);
  assert.deepEqual([...s.types!], ['TxStatus']);
  const d = resolveTrace(['-p', '1']);
  assert.ok(d !== 'help' && d.headers === 'redacted' && d.tls && d.format === 'h2olog');
  assert.equal(resolveTrace(['-h']), 'help');
  const flagOf = (argv: string[]): string | undefined => {
    try {
      resolveTrace(argv);
    } catch (err) {
      assert.ok(err instanceof UsageError);
      return err.flag;
    }
    return undefined;
  };
  assert.equal(flagOf([]), '-p');
  assert.equal(flagOf(['-p', 'abc']), '-p');
  assert.equal(flagOf(['-p', '1', '--format', 'xml']), '--format');
  assert.equal(flagOf(['-p', '1', '--headers', 'redacted']), '--headers');
  assert.equal(flagOf(['-p', '1', '-t', 'Bogus']), '-t');
  assert.equal(flagOf(['-p', '1', '--filter', 'status=abc']), '--filter');
  assert.equal(flagOf(['-p', '1', '-s', '9999']), '-s');
  assert.equal(flagOf(['-p', '1', '--bogus']), '--bogus');
});

test('h2olog byte path (a file writer) writes the same bytes as the line path, UTF-8 and odd values included', async () => {
  const { StdoutWriter } = await import('../../src/sinks/log-writer.js');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wl-h2olog-'));
  try {
    const long = 'é'.repeat(40) + 'x'.repeat(50);
    const headers: Array<[string, string]> = [
      ['X-Latin1', 'caf\u00e9'], ['X-Emoji', 'a\u{1F600}b'], ['X-Lone', 'a\ud800b'], ['X-Long', long], ['X-Long-Ascii', 'y'.repeat(300)],
      ['X-Empty', ''], ['Cookie', 'k=v'], ['N\u00e4me', 'v'], ['X-CRLF', 'a\r\nb'],
    ];
    for (const mode of ['none', 'names', 'length', 'values', 'redacted'] as const) {
      for (const role of ['server', 'client'] as const) {
        const file = path.join(dir, `${mode}-${role}.log`);
        const fd = fs.openSync(file, 'w');
        const w = new StdoutWriter(fd, file);
        const lines = new Lines();
        const emit = (out: LineSink): void => {
          const s = new H2ologSink(out, { headers: mode });
          const c = conn({ connId: 1234567, role });
          const req: TraceRequest = { tsUs: 1, protocol: 'HTTP/2.0', streamId: 2147483647, method: 'GET', path: '/p\u00e4th', authority: 'h\u00f6st', scheme: 'https', headers };
          s.request({ conn: c, reqId: 2147483647, req });
          s.response({ conn: c, reqId: 0, req, res: { tsUs: 2, protocol: 'HTTP/2.0', status: 200, reason: '', headers } });
          s.response({ conn: c, reqId: 7, req, res: { tsUs: 2, protocol: 'HTTP/2.0', reason: '', headers: [] } });
        };
        emit(w);
        emit(lines);
        w.close();
        fs.closeSync(fd);
        assert.ok(lines.lines.length > 4);
        assert.equal(fs.readFileSync(file).toString('hex'), Buffer.from(lines.lines.join('\n') + '\n', 'utf8').toString('hex'), `${mode} ${role}`);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('isSecretHeader matches the secret names in any ASCII case and nothing else', () => {
  for (const n of ['authorization', 'cookie', 'set-cookie', 'proxy-authorization']) {
    assert.equal(isSecretHeader(n), true);
    assert.equal(isSecretHeader(n.toUpperCase()), true);
    assert.equal(isSecretHeader(n[0].toUpperCase() + n.slice(1)), true);
    assert.equal(isSecretHeader(n.slice(1)), false);
    assert.equal(isSecretHeader(n + 's'), false);
    assert.equal(isSecretHeader(n.slice(0, -1) + '_'), false);
  }
  for (const n of ['cookie2', 'set-cookie2', 'x-cookie', 'Accept', 'User-Agent', 'Content-Length', '', 'c\u00f6okie', 'cookie\u0000']) {
    assert.equal(isSecretHeader(n), false, n);
  }
});
