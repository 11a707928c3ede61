/**
 * The built CLI end to end on capture files, against tshark as the independent reference. The main file is
 * synthesized here (exact bytes, no privileges): IPv4 and IPv6, keep-alive, chunked, a head split over two
 * segments, 100-continue, a local midnight in the middle. A second test records real curl ↔ Node traffic with
 * tcpdump when it may (root).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { cliPath } from '../helpers/paths.js';
import { Scope, run } from '../helpers/proc.js';
import { tsharkHttp, packetCount, startTcpdump, type TsharkHttp } from '../helpers/tshark.js';
import { runWirelog, parseTextLines, parseJsonLines, parseSummary, parseStatsLines, JSON_FIELDS } from '../helpers/wirelog.js';
import { requirePrivileges } from '../helpers/privileged.js';
import { ether, ipv4, ipv6, tcp, pcapFile, type Rec } from '../helpers/decode-build.js';

const scope = new Scope();
after(() => scope.close());

const SYN = 0x02, ACK = 0x10, PSH = 0x08, FIN = 0x01;
const LOCAL = '10.1.1.2'; // passed as --local-addr: this "host" serves on 8080

class Flow {
  private cseq = 1000;
  private sseq = 90000;
  constructor(private readonly recs: Rec[], private readonly clock: { us: number },
    readonly c: string, readonly cp: number, readonly s: string, readonly sp: number) {}

  send(fromClient: boolean, flags: number, text = ''): void {
    const payload = Buffer.from(text, 'latin1');
    const [src, dst, sport, dport] = fromClient ? [this.c, this.s, this.cp, this.sp] : [this.s, this.c, this.sp, this.cp];
    const seq = fromClient ? this.cseq : this.sseq;
    const ack = fromClient ? this.sseq : this.cseq;
    const seg = tcp({ sport, dport, seq, ack: flags & SYN && fromClient ? 0 : ack, flags }, payload);
    const adv = payload.length + (flags & (SYN | FIN) ? 1 : 0);
    if (fromClient) this.cseq += adv; else this.sseq += adv;
    const data = src.includes(':') ? ether(0x86dd, ipv6({ src, dst, proto: 6 }, seg)) : ether(0x0800, ipv4({ src, dst, proto: 6 }, seg));
    this.recs.push({ tsUs: this.clock.us, data });
    this.clock.us += 1000;
  }
  open(): void { this.send(true, SYN); this.send(false, SYN | ACK); this.send(true, ACK); }
  req(text: string): void { this.send(true, PSH | ACK, text); this.send(false, ACK); }
  res(text: string): void { this.send(false, PSH | ACK, text); this.send(true, ACK); }
  close(): void { this.send(true, FIN | ACK); this.send(false, FIN | ACK); this.send(true, ACK); }
}

interface Built { file: Buffer; recs: Rec[]; firstRequestFrame: number }

/** The conversations; a 23:59:59.970 UTC start so that requests straddle a midnight (TZ=UTC in the runs). */
export function buildCapture(): Built {
  const recs: Rec[] = [];
  const clock = { us: Date.UTC(2026, 10, 23, 23, 59, 59, 970) * 1000 };
  const a = new Flow(recs, clock, '10.1.1.1', 40001, LOCAL, 8080);
  a.open();
  a.req('GET /index.html HTTP/1.1\r\nHost: example.test:8080\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) test\r\nAccept: */*\r\n\r\n');
  const firstRequestFrame = recs.length - 1; // 1-based number of A's request frame (its ACK follows)
  a.res('HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Length: 5\r\n\r\nhello');
  a.close();
  const b = new Flow(recs, clock, '10.1.1.1', 40002, LOCAL, 8080);
  b.open();
  const body = '{"name":"x"}';
  b.req(`POST /api/items?id=7 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: client/2.0\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  b.res('HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n2\r\n{}\r\n0\r\n\r\n');
  b.req('GET /missing HTTP/1.1\r\nHost: example.test\r\n\r\n');
  b.res('HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nContent-Type: text/plain\r\n\r\nnot found');
  b.close();
  const c = new Flow(recs, clock, '2001:db8::1', 40003, '2001:db8::2', 80);
  c.open();
  c.req('GET / HTTP/1.1\r\nHost: [2001:db8::2]\r\nUser-Agent: curl/7.88.1\r\n\r\n');
  c.res('HTTP/1.1 301 Moved Permanently\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n');
  c.close();
  const d = new Flow(recs, clock, '10.1.1.3', 40004, LOCAL, 8080);
  d.open();
  d.send(true, ACK, 'GET /split?q=1 HTTP/1.1\r\nHost: split.test\r\nUser-Agent: Split');
  d.req('/1.0 (two segments)\r\n\r\n');
  d.res('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok');
  d.close();
  const e = new Flow(recs, clock, '10.1.1.4', 40005, LOCAL, 8080);
  e.open();
  e.req('POST /upload HTTP/1.1\r\nHost: up.test\r\nUser-Agent: uploader\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
  e.res('HTTP/1.1 100 Continue\r\n\r\n');
  e.req('data');
  e.res('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  e.close();
  return { file: pcapFile(recs), recs, firstRequestFrame };
}

const built = buildCapture();
let dir = '';
let capFile = '';
let reference: TsharkHttp;

const UTC = { TZ: 'UTC' };

async function setup(): Promise<void> {
  if (capFile !== '') return;
  dir = await scope.tempDir('wirelog-cli-');
  capFile = path.join(dir, 'synth.pcap');
  fs.writeFileSync(capFile, built.file);
  reference = await tsharkHttp(capFile);
}

interface ExpectedLine { frame: number; time: number; text: string }

/**
 * tshark's messages as the text lines they must be, without the timestamp: requests and responses apart, each in
 * frame order (tshark files a request with a body under the frame that completes the body, after a 100 Continue;
 * wirelog writes a line when the head is seen, so only the order within each list is comparable).
 */
function expectedLines(h: TsharkHttp, maxFrame = Infinity): { requests: ExpectedLine[]; responses: ExpectedLine[] } {
  const requests = h.requests.filter((q) => q.frame <= maxFrame).map((q) => ({
    frame: q.frame, time: q.time,
    text: `${q.src}#${q.srcPort} ${q.dst}#${q.dstPort} ${q.dst === LOCAL ? 'CQ' : 'SQ'} ${q.method} ${q.uri} ${q.version} ${q.host} ${q.userAgent}`,
  }));
  const responses = h.responses.filter((r) => r.frame <= maxFrame).map((r) => ({
    frame: r.frame, time: r.time,
    text: `${r.src}#${r.srcPort} ${r.dst}#${r.dstPort} ${r.src === LOCAL ? 'CR' : 'SR'} ${r.version} ${r.status} ${r.reason} ${r.contentLength} ${r.contentType}`,
  }));
  return { requests, responses };
}

const utcMs = (ts: string): number => Date.parse(ts.replace(' ', 'T') + 'Z');

function assertLinesMatch(stdout: string, expected: ReturnType<typeof expectedLines>, checkTimes = true): void {
  const lines = parseTextLines(stdout);
  const reqs = lines.filter((l) => l.kind === 'CQ' || l.kind === 'SQ');
  const ress = lines.filter((l) => l.kind === 'CR' || l.kind === 'SR');
  assert.deepEqual(reqs.map((l) => l.raw.slice(24)), expected.requests.map((e) => e.text));
  assert.deepEqual(ress.map((l) => l.raw.slice(24)), expected.responses.map((e) => e.text));
  if (!checkTimes) return;
  for (const [got, want] of [[reqs, expected.requests], [ress, expected.responses]] as const) {
    for (let i = 0; i < got.length; i++) {
      // the line's time is the message's first byte; tshark's is the frame that completed it (a few ms later here)
      const ms = utcMs(got[i].ts);
      const ref = Math.floor(want[i].time * 1000 + 1e-6);
      assert.ok(ms <= ref && ms >= ref - 10, `${got[i].raw}: vs tshark ${want[i].time}`);
    }
  }
  // lines are written in packet order: their times never go backwards
  for (let i = 1; i < lines.length; i++) assert.ok(utcMs(lines[i].ts) >= utcMs(lines[i - 1].ts), lines[i].raw);
}

test('text lines of a synthesized capture equal tshark\'s view; summary counts agree', async () => {
  await setup();
  assert.equal(reference.requests.length, 6, 'the reference itself must see the 6 requests');
  const r = await runWirelog(['capture', '-r', capFile, '--local-addr', LOCAL], { env: UTC });
  assert.equal(r.code, 0, r.stderr);
  assertLinesMatch(r.stdout, expectedLines(reference));
  const s = parseSummary(r.stderr);
  assert.ok(s, r.stderr);
  assert.equal(s.packets, await packetCount(capFile));
  assert.equal(s.requests, reference.requests.length);
  assert.equal(s.responses, reference.responses.length);
  assert.equal(s.transactions, reference.requests.length);
  assert.equal(s.kernelDrops, 0);
  assert.equal(s.gaps, 0);
  assert.equal(r.stderr.trim().split('\n').length, 1, 'only the summary on stderr');
});

test('--format jsonl: one record per transaction, fields agree with tshark', async () => {
  await setup();
  const r = await runWirelog(['capture', '-r', capFile, '--local-addr', LOCAL, '--format', 'jsonl'], { env: UTC });
  assert.equal(r.code, 0, r.stderr);
  const recs = parseJsonLines(r.stdout).sort((a, b) => a.ts.localeCompare(b.ts));
  assert.equal(recs.length, reference.requests.length);
  const finals = reference.responses.filter((x) => x.status >= 200);
  for (let i = 0; i < recs.length; i++) {
    const rec = recs[i], q = reference.requests[i];
    assert.deepEqual(Object.keys(rec), [...JSON_FIELDS]);
    assert.deepEqual([rec.src_ip, rec.src_port, rec.dst_ip, rec.dst_port], [q.src, q.srcPort, q.dst, q.dstPort]);
    assert.deepEqual([rec.method, rec.uri, rec.version, rec.host ?? '', rec.user_agent ?? ''], [q.method, q.uri, q.version, q.host, q.userAgent]);
    assert.equal(rec.kind, q.dst === LOCAL ? 'CQ' : 'SQ');
    const f = finals.find((x) => x.stream === q.stream && x.frame > q.frame);
    assert.ok(f);
    assert.deepEqual([rec.status, rec.reason, rec.content_type ?? '', rec.content_length === null ? '' : String(rec.content_length)],
      [f.status, f.reason, f.contentType, f.contentLength]);
    assert.equal(rec.res_version, f.version);
    assert.match(rec.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.equal(rec.incomplete, null);
    assert.ok(typeof rec.latency_ms === 'number' && rec.latency_ms > 0);
  }
  const upload = recs.find((x) => x.uri === '/upload');
  assert.deepEqual(upload?.interim, [100]);
});

test('-d DIR --log-split: four files a day by the line\'s own local date, same lines as stdout', async () => {
  await setup();
  const all = await runWirelog(['capture', '-r', capFile, '--local-addr', LOCAL], { env: UTC });
  const logDir = path.join(dir, 'logs-split', 'nested');
  const r = await runWirelog(['capture', '-r', capFile, '--local-addr', LOCAL, '-d', logDir, '--log-split'], { env: UTC });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  const want = new Map<string, string>();
  for (const l of parseTextLines(all.stdout)) {
    const name = `http-${l.kind}-${l.ts.slice(0, 10).replace(/-/g, '')}.log`;
    want.set(name, (want.get(name) ?? '') + l.raw + '\n');
  }
  assert.ok([...want.keys()].some((n) => n.endsWith('20261123.log')) && [...want.keys()].some((n) => n.endsWith('20261124.log')), 'the capture straddles midnight');
  assert.deepEqual(fs.readdirSync(logDir).sort(), [...want.keys()].sort());
  for (const [name, text] of want) assert.equal(fs.readFileSync(path.join(logDir, name), 'utf8'), text, name);

  const one = path.join(dir, 'logs-one');
  const rj = await runWirelog(['capture', '-r', capFile, '-d', one, '--format', 'jsonl'], { env: UTC });
  assert.equal(rj.code, 0, rj.stderr);
  const files = fs.readdirSync(one).sort();
  const jsonAll = parseJsonLines((await runWirelog(['capture', '-r', capFile, '--format', 'jsonl'], { env: UTC })).stdout);
  assert.deepEqual(files, [...new Set(jsonAll.map((x) => `http-${x.ts.slice(0, 10).replace(/-/g, '')}.jsonl`))].sort());
  assert.deepEqual(files, ['http-20261123.jsonl', 'http-20261124.jsonl']); // transactions on both days
  const n = files.reduce((acc, f) => acc + parseJsonLines(fs.readFileSync(path.join(one, f), 'utf8')).length, 0);
  assert.equal(n, reference.requests.length);
});

test('-c COUNT stops after COUNT packets', async () => {
  await setup();
  const count = built.firstRequestFrame + 1; // SYN, SYN-ACK, ACK, request
  const r = await runWirelog(['capture', '-r', capFile, '--local-addr', LOCAL, '-c', String(count)], { env: UTC });
  assert.equal(r.code, 0, r.stderr);
  assertLinesMatch(r.stdout, expectedLines(reference, count));
  assert.equal(parseTextLines(r.stdout).length, 1);
  assert.equal(parseSummary(r.stderr)?.packets, count);
});

test('a truncated file: everything before is logged, then the error with the byte offset, exit 1', async () => {
  await setup();
  // cut inside the record of frame K (1-based): its header is complete, its data is not
  const K = 30;
  let offset = 24;
  for (let i = 0; i < K - 1; i++) offset += 16 + built.recs[i].data.length;
  const cut = path.join(dir, 'cut.pcap');
  fs.writeFileSync(cut, built.file.subarray(0, offset + 16 + 10));
  const r = await runWirelog(['capture', '-r', cut, '--local-addr', LOCAL], { env: UTC });
  assert.equal(r.code, 1);
  assertLinesMatch(r.stdout, expectedLines(reference, K - 1));
  const errLines = r.stderr.split('\n').filter((l) => l.startsWith('wirelog: error: '));
  assert.equal(errLines.length, 1, r.stderr);
  assert.match(errLines[0], new RegExp(`^wirelog: error: ${cut.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: truncated .* at byte ${offset}\\b`));
  assert.equal(parseSummary(r.stderr)?.packets, K - 1);

  // the same through stdin
  const s = await runWirelog(['capture', '-r', '-', '--local-addr', LOCAL], { env: UTC, stdin: fs.readFileSync(cut) });
  assert.equal(s.code, 1);
  assert.equal(s.stdout, r.stdout);
  assert.match(s.stderr, new RegExp(`^wirelog: error: stdin: truncated .* at byte ${offset}\\b`, 'm'));
});

test('-r - reads stdin; missing file and unwritable -d are one error line, exit 1', async () => {
  await setup();
  const f = await runWirelog(['capture', '-r', capFile, '--local-addr', LOCAL], { env: UTC });
  const s = await runWirelog(['capture', '-r', '-', '--local-addr', LOCAL], { env: UTC, stdin: built.file });
  assert.equal(s.code, 0, s.stderr);
  assert.equal(s.stdout, f.stdout);
  assert.ok(s.stdout.length > 0);

  const missing = await runWirelog(['capture', '-r', path.join(dir, 'nope.pcap')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^wirelog: error: .*nope\.pcap: .*ENOENT/m);

  const blocker = path.join(dir, 'a-file');
  fs.writeFileSync(blocker, '');
  const bad = await runWirelog(['capture', '-r', capFile, '-d', path.join(blocker, 'logs')]);
  assert.equal(bad.code, 1);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /^wirelog: error: cannot write log directory .*a-file\/logs: /);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
});

test('--log-every N prints a stats line every N packets', async () => {
  await setup();
  const r = await runWirelog(['capture', '-r', capFile, '--log-every', '10'], { env: UTC });
  assert.equal(r.code, 0, r.stderr);
  const stats = parseStatsLines(r.stderr);
  const total = parseSummary(r.stderr)!.packets;
  assert.equal(stats.length, Math.floor(total / 10));
  stats.forEach((st, i) => assert.equal(st.packets, (i + 1) * 10));
  assert.ok(stats[stats.length - 1].requests <= reference.requests.length);
});

test('output to a closed pipe (| head) ends the run quietly', async () => {
  await setup();
  // enough traffic for many coalesced writes
  const recs: Rec[] = [];
  const clock = { us: Date.UTC(2026, 0, 1) * 1000 };
  for (let i = 0; i < 3000; i++) {
    const f = new Flow(recs, clock, '10.2.0.1', 20000 + (i % 40000), '10.2.0.2', 80);
    f.req(`GET /item/${i}/${'x'.repeat(60)} HTTP/1.1\r\nHost: bulk.test\r\nUser-Agent: bulk\r\n\r\n`);
    f.res('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  }
  const big = path.join(dir, 'big.pcap');
  fs.writeFileSync(big, pcapFile(recs));
  const r = await run('bash', ['-o', 'pipefail', '-c', `"${process.execPath}" "${cliPath}" capture -r "${big}" | head -n 2`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 2);
  assert.doesNotMatch(r.stderr, /wirelog: error|EPIPE/i);
});

test('real traffic: curl ↔ Node on loopback recorded by tcpdump, wirelog agrees with tshark', async (t) => {
  if (!requirePrivileges(t, false)) return;
  await setup();
  const server = http.createServer((req, res) => {
    if (req.url === '/json') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"ok":true}');
    } else if (req.url === '/chunked') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('a');
      res.end('b');
    } else {
      res.writeHead(404, 'Nope', { 'Content-Length': '0' });
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  scope.defer('http server', () => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  const file = path.join(dir, 'real.pcap');
  const td = await startTcpdump(scope, { iface: 'lo', file, filter: `tcp port ${port}` });
  for (const p of ['/json', '/chunked', '/missing?x=1']) {
    const c = await run('curl', ['-s', '-o', '/dev/null', '-A', 'wirelog test/1.0', `http://127.0.0.1:${port}${p}`]);
    assert.equal(c.code, 0);
  }
  const up = await run('curl', ['-s', '-o', '/dev/null', '-H', 'Expect: 100-continue', '--data-binary', 'payload', `http://127.0.0.1:${port}/json`]);
  assert.equal(up.code, 0);
  await td.stop();
  const ref = await tsharkHttp(file, { port });
  assert.equal(ref.requests.length, 4);
  const r = await runWirelog(['capture', '-r', file, '--local-addr', '127.0.0.1']);
  assert.equal(r.code, 0, r.stderr);
  const lines = parseTextLines(r.stdout);
  assert.deepEqual(lines.filter((l) => l.kind === 'CQ').map((l) => l.raw.slice(24)),
    ref.requests.map((q) => `${q.src}#${q.srcPort} ${q.dst}#${q.dstPort} CQ ${q.method} ${q.uri} ${q.version} ${q.host} ${q.userAgent}`));
  assert.deepEqual(lines.filter((l) => l.kind === 'CR').map((l) => l.raw.slice(24)),
    ref.responses.map((x) => `${x.src}#${x.srcPort} ${x.dst}#${x.dstPort} CR ${x.version} ${x.status} ${x.reason} ${x.contentLength} ${x.contentType}`));
  assert.equal(lines.length, ref.requests.length + ref.responses.length);
  assert.equal(parseSummary(r.stderr)?.packets, await packetCount(file));
});

test('what the parser could not log is counted: summary, --log-every stats and one --verbose line per give-up', async () => {
  const recs: Rec[] = [];
  const clock = { us: Date.UTC(2026, 11, 3, 12, 0, 0) * 1000 };
  const junk = '\x16\x03\x01\x00\x05hello\r\n';
  const a = new Flow(recs, clock, '10.1.1.1', 40101, LOCAL, 8080);
  a.open();
  a.req(junk + 'GET /after-junk HTTP/1.1\r\nHost: t\r\n\r\n');
  a.res('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  a.close();
  const b = new Flow(recs, clock, '10.1.1.1', 40102, LOCAL, 8080); // not HTTP: an SSH banner each way
  b.open();
  b.req('SSH-2.0-OpenSSH_9.2p1\r\n');
  b.res('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n');
  b.close();
  const c = new Flow(recs, clock, '10.1.1.1', 40103, LOCAL, 8080); // HTTP/0.9
  c.open();
  c.req('GET /zero-nine.html\r\n');
  c.res('<p>nine</p>\n');
  c.close();
  const dir = await scope.tempDir('wirelog-cli-skip-');
  const file = path.join(dir, 'skip.pcap');
  fs.writeFileSync(file, pcapFile(recs));
  const r = await runWirelog(['capture', '-r', file, '--local-addr', LOCAL, '--format', 'jsonl', '--verbose', '--log-every', '1'], { env: { TZ: 'UTC' } });
  assert.equal(r.code, 0, r.stderr);
  const s = parseSummary(r.stderr);
  assert.ok(s, r.stderr);
  assert.deepEqual([s.notHttp, s.messagesSkipped, s.bytesSkipped, s.parseErrors, s.errors], [1, 1, junk.length, 1, { WL_ERR_HTTP_BAD_START_LINE: 1 }]);
  const skips = r.stderr.split('\n').filter((l) => l.startsWith('wirelog: skip ') || l.startsWith('wirelog: not HTTP '));
  assert.deepEqual(skips, [
    `wirelog: skip 10.1.1.1#40101 > ${LOCAL}#8080 request stream byte 0: WL_ERR_HTTP_BAD_START_LINE not an HTTP/1.x start line`,
    `wirelog: not HTTP 10.1.1.1#40102 > ${LOCAL}#8080: ${'SSH-2.0-OpenSSH_9.2p1\r\n'.length + 'SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n'.length} bytes without an HTTP message`,
  ]);
  const stats = parseStatsLines(r.stderr);
  assert.equal(stats.length, recs.length, 'one stats line per packet');
  assert.match(r.stderr, /^wirelog: stats .* not_http=1 skipped_messages=1 skipped_bytes=\d+ parse_errors=1 WL_ERR_HTTP_BAD_START_LINE=1$/m);
  const jl = parseJsonLines(r.stdout);
  assert.deepEqual(jl.map((x) => [x.src_port, x.uri, x.version, x.status, x.incomplete, x.anomalies]), [
    [40101, null, null, 400, 'no-request', ['bad-start-line']],
    [40101, '/after-junk', 'HTTP/1.1', null, 'no-response', ['junk-before-message']],
    [40103, '/zero-nine.html', 'HTTP/0.9', null, null, []],
  ]);
  assert.equal(jl[2]!.res_body_bytes, '<p>nine</p>\n'.length);
});
