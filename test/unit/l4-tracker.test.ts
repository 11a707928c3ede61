/**
 * L4 records: synthetic connections built with Conv (real seq/ack arithmetic), fed to the L4 tracker, written by
 * the JSON lines sink, and every field checked against values computed from the segments that were built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Conv, type Ep } from '../helpers/tcp-conv.js';
import { repoRoot } from '../helpers/paths.js';
import {
  TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, type LineKind, type TransportSegment,
} from '../../src/records.js';
import { L4Tracker, type L4TrackerOptions } from '../../src/correlate/l4.js';
import { L4JsonlSink, L4_RECORD_FIELDS } from '../../src/sinks/l4-jsonl.js';
import { resolveCapture, type CaptureSettings } from '../../src/cli/config.js';
import { UsageError } from '../../src/cli/args.js';
import { summaryLine, type PipelineResult } from '../../src/pipelines/capture.js';

const CLIENT: Ep = { ip: '10.0.0.5', port: 41000 };
const SERVER: Ep = { ip: '10.0.0.1', port: 8080 };

interface Line { raw: string; rec: Record<string, unknown>; kind: LineKind }

/** A tracker writing through the real JSON lines sink into an array. */
function harness(opts: Partial<L4TrackerOptions> = {}): { tracker: L4Tracker; lines: Line[] } {
  const lines: Line[] = [];
  const sink = new L4JsonlSink({ write: (raw, _ts, kind) => lines.push({ raw, rec: JSON.parse(raw) as Record<string, unknown>, kind }) });
  const tracker = new L4Tracker({ servicePorts: 'any', localAddrs: new Set([SERVER.ip]), ...opts }, sink);
  return { tracker, lines };
}

/** tcpdump's flag letters for the flag combinations Conv builds (written out, not computed) */
const LETTERS = new Map<number, string>([
  [TCP_SYN, 'S'], [TCP_SYN | TCP_ACK, 'S.'], [TCP_ACK, '.'], [TCP_PSH | TCP_ACK, 'P.'], [TCP_FIN | TCP_ACK, 'F.'],
  [TCP_RST | TCP_ACK, 'R.'], [TCP_RST, 'R'], [TCP_FIN | TCP_PSH | TCP_ACK, 'FP.'],
]);

/** A pure ACK from a side, acknowledging everything the other side sent. */
function pureAck(c: Conv, from: 0 | 1): TransportSegment {
  const src = from === 0 ? c.client : c.server, dst = from === 0 ? c.server : c.client;
  const seg: TransportSegment = {
    tsUs: (c.t += 1000), ifindex: 1, family: 4, src: src.ip, dst: dst.ip, sport: src.port, dport: dst.port, proto: 6,
    seq: c.seq[from], ack: c.seq[1 - from], flags: TCP_ACK, window: 512 + from, payload: Buffer.alloc(0), payloadLen: 0,
  };
  c.segs.push(seg);
  return seg;
}

/** A copy of an earlier segment sent again later (a retransmission). */
function again(c: Conv, seg: TransportSegment): void {
  c.segs.push({ ...seg, tsUs: (c.t += 1000) });
}

/** The ns timestamps of a line's packets, read from the text (JSON.parse would round them through a double). */
function rawNs(raw: string): string[] {
  return [...raw.matchAll(/\[(\d+),"(?:tx|rx)"/g)].map((m) => m[1]!);
}

/** The expected `packets` series of the segments, `isTx` telling which are transmitted by this device. */
function series(segs: TransportSegment[], isTx: (s: TransportSegment) => boolean): unknown[] {
  return segs.map((s) => s.proto === 17
    ? [s.tsUs * 1000, isTx(s) ? 'tx' : 'rx', null, null, null, s.payloadLen, null]
    : [s.tsUs * 1000, isTx(s) ? 'tx' : 'rx', LETTERS.get(s.flags), s.seq >>> 0, s.ack >>> 0, s.payloadLen, s.window]);
}

const sum = (segs: TransportSegment[]): number => segs.reduce((a, s) => a + s.payloadLen, 0);
const seqs = (segs: TransportSegment[]): number[] => segs.map((s) => s.seq >>> 0);
const fromServer = (s: TransportSegment): boolean => s.src === SERVER.ip && s.sport === SERVER.port;

/** The counters and seq bounds of a chunk whose local end is the server. */
function counters(segs: TransportSegment[], txRetrans: number, rxRetrans: number): Record<string, unknown> {
  const tx = segs.filter(fromServer), rx = segs.filter((s) => !fromServer(s));
  return {
    tx_packets: tx.length, rx_packets: rx.length, tx_bytes: sum(tx), rx_bytes: sum(rx),
    tx_retrans: txRetrans, rx_retrans: rxRetrans,
    tx_seq_min: tx.length ? Math.min(...seqs(tx)) : null, tx_seq_max: tx.length ? Math.max(...seqs(tx)) : null,
    rx_seq_min: rx.length ? Math.min(...seqs(rx)) : null, rx_seq_max: rx.length ? Math.max(...seqs(rx)) : null,
  };
}

test('handshake, data, a retransmission, FIN/FIN/ACK: one record, every field', () => {
  const c = new Conv(CLIENT, SERVER, [123456789, 3_000_000_000]).handshake();
  c.c('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const req = c.segs[c.segs.length - 1]!;
  pureAck(c, 1);
  again(c, req); // the client sends the request again: a retransmission the server receives
  c.s('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
  pureAck(c, 0);
  c.fin(0);
  const fin1 = c.segs.length - 1;
  c.fin(1);
  pureAck(c, 0); // acknowledges the second FIN: the connection is over
  const { tracker, lines } = harness();
  for (const s of c.segs) tracker.onSegment(s);
  assert.equal(lines.length, 1, 'the record is written when the last FIN is acknowledged, before finish()');
  tracker.finish();
  assert.equal(lines.length, 1, 'nothing left for finish()');
  const { rec, raw, kind } = lines[0]!;
  assert.deepEqual(Object.keys(rec), [...L4_RECORD_FIELDS]);
  assert.ok(raw.startsWith('{"record":"l4",'));
  const segs = c.segs;
  assert.deepEqual(rec, {
    record: 'l4', ts: new Date(segs[0]!.tsUs / 1000).toISOString().replace('Z', '000Z'), l4_proto: 'tcp',
    client_ip: CLIENT.ip, client_port: CLIENT.port, server_ip: SERVER.ip, server_port: SERVER.port,
    src_ip: SERVER.ip, src_port: SERVER.port, dst_ip: CLIENT.ip, dst_port: CLIENT.port,
    direction: 'incoming', conn_side: 'server', ifname: null, ifindex: 1, netns: null, netns_name: null, container_id: null, pod_uid: null,
    chunk_id: 1, chunk_syn: true, chunk_fin: true,
    packets: series(segs, fromServer),
    ...counters(segs, 0, 1),
    tcp_rtt_us: segs[1]!.tsUs - segs[0]!.tsUs,
    tcp_3whs_us: segs[2]!.tsUs - segs[0]!.tsUs,
    tcp_4whs_us: segs[segs.length - 1]!.tsUs - segs[fin1]!.tsUs,
    conn_trace_id: '123456789_3000000000',
    inner_trace_id: rec.inner_trace_id,
  });
  assert.match(rec.inner_trace_id as string, /^[0-9a-f]{32}$/);
  assert.deepEqual(rawNs(raw), segs.map((s) => `${BigInt(s.tsUs) * 1000n}`), 'ts_ns written exactly');
  assert.equal(kind, 'CQ', 'this host is the server: filed with the CQ lines');
});

test('the client side of the same connection: outgoing, tx = the client, and the same conn_trace_id', () => {
  const c = new Conv(CLIENT, SERVER, [7, 0xfffffff0]).handshake().c('x'.repeat(40)).s('y'.repeat(30)).close();
  pureAck(c, 0);
  const { tracker, lines } = harness({ localAddrs: new Set([CLIENT.ip]) });
  for (const s of c.segs) tracker.onSegment(s);
  assert.equal(lines.length, 1);
  const r = lines[0]!.rec;
  assert.deepEqual([r.src_ip, r.src_port, r.dst_ip, r.dst_port, r.direction, r.conn_side],
    [CLIENT.ip, CLIENT.port, SERVER.ip, SERVER.port, 'outgoing', 'client']);
  assert.deepEqual(r.packets, series(c.segs, (s) => !fromServer(s)));
  assert.equal(r.conn_trace_id, '7_4294967280');
  assert.equal(r.tx_bytes, 40);
  assert.equal(r.rx_bytes, 30);
  assert.equal(lines[0]!.kind, 'SQ');
  // the server's seq wraps past 2^32 in this connection: min/max are raw numbers, max < min says so
  assert.equal(r.rx_seq_min, 0xfffffff0);
  assert.equal(r.rx_seq_max, (0xfffffff0 + 1 + 30) >>> 0);
});

test('RST ends the connection at once; the next packets on the 4-tuple are a new connection', () => {
  const c = new Conv(CLIENT, SERVER).handshake().c('hello').rst(1);
  const { tracker, lines } = harness();
  for (const s of c.segs) tracker.onSegment(s);
  assert.equal(lines.length, 1, 'written on the RST');
  const r = lines[0]!.rec;
  assert.equal(r.chunk_fin, true);
  assert.equal(r.chunk_syn, true);
  assert.equal(r.tcp_4whs_us, null);
  assert.deepEqual(r.packets, series(c.segs, fromServer));
  const d = new Conv(CLIENT, SERVER, [99, 77], c.t + 5000).handshake();
  for (const s of d.segs) tracker.onSegment(s);
  tracker.finish();
  assert.equal(lines.length, 2);
  const r2 = lines[1]!.rec;
  assert.equal(r2.chunk_id, 1);
  assert.equal(r2.chunk_fin, false);
  assert.equal(r2.conn_trace_id, '99_77');
  assert.notEqual(r2.inner_trace_id, r.inner_trace_id);
  assert.equal(r2.tcp_4whs_us, null);
  assert.equal(r2.tcp_3whs_us, 2000);
});

test('more than 256 packets: chunks of 256, chunk_syn in the first, chunk_fin in the last, ids carried', () => {
  const c = new Conv(CLIENT, SERVER).handshake();
  for (let i = 0; i < 300; i++) c.c(`chunk ${i}\n`);
  c.close();
  pureAck(c, 0);
  const { tracker, lines } = harness();
  for (let i = 0; i < c.segs.length; i++) {
    tracker.onSegment(c.segs[i]!);
    if (i === 255) assert.equal(lines.length, 1, 'the first chunk is written on its 256th packet');
  }
  assert.equal(c.segs.length, 306);
  assert.equal(lines.length, 2);
  const [a, b] = lines.map((l) => l.rec);
  const first = c.segs.slice(0, 256), rest = c.segs.slice(256);
  assert.deepEqual(a!.packets, series(first, fromServer));
  assert.deepEqual(b!.packets, series(rest, fromServer));
  assert.deepEqual([a!.chunk_id, a!.chunk_syn, a!.chunk_fin], [1, true, false]);
  assert.deepEqual([b!.chunk_id, b!.chunk_syn, b!.chunk_fin], [2, false, true]);
  for (const [r, segs] of [[a!, first], [b!, rest]] as const) {
    for (const [k, v] of Object.entries(counters(segs, 0, 0))) assert.equal(r[k], v, k);
    assert.equal(r.ts, new Date(segs[0]!.tsUs / 1000).toISOString().replace('Z', '000Z'));
  }
  assert.equal(a!.inner_trace_id, b!.inner_trace_id);
  assert.equal(a!.conn_trace_id, b!.conn_trace_id);
  assert.equal(b!.tcp_3whs_us, 2000, 'handshake times are the connection\'s, in later chunks too');
  assert.equal(a!.tcp_4whs_us, null);
  assert.equal(b!.tcp_4whs_us, c.segs[c.segs.length - 1]!.tsUs - c.segs[c.segs.length - 3]!.tsUs);
});

test('a 30 s pause starts a new chunk; tick() flushes an old chunk and expires an idle connection', () => {
  const c = new Conv(CLIENT, SERVER).handshake().c('before');
  const cut = c.segs.length;
  c.t += 30_000_000 - 4000; // the next packet is exactly 30 s after the chunk's first
  c.s('after').close();
  pureAck(c, 0);
  assert.equal(c.segs[cut]!.tsUs - c.segs[0]!.tsUs, 30_000_000);
  const { tracker, lines } = harness();
  for (const s of c.segs) tracker.onSegment(s);
  assert.equal(lines.length, 2);
  assert.deepEqual(lines[0]!.rec.packets, series(c.segs.slice(0, cut), fromServer));
  assert.deepEqual(lines[1]!.rec.packets, series(c.segs.slice(cut), fromServer));
  assert.deepEqual(lines.map((l) => [l.rec.chunk_id, l.rec.chunk_syn, l.rec.chunk_fin]), [[1, true, false], [2, false, true]]);

  // time-based flush by tick(): no packet needed
  const d = new Conv({ ip: CLIENT.ip, port: 41001 }, SERVER).handshake();
  const h2 = harness();
  for (const s of d.segs) h2.tracker.onSegment(s);
  h2.tracker.tick(d.segs[0]!.tsUs + 29_000_000);
  assert.equal(h2.lines.length, 0, 'younger than 30 s: kept');
  h2.tracker.tick(d.segs[0]!.tsUs + 30_000_000);
  assert.equal(h2.lines.length, 1, '30 s old: written');
  assert.deepEqual(h2.lines[0]!.rec.packets, series(d.segs, fromServer));
  d.c('late');
  h2.tracker.onSegment(d.segs[d.segs.length - 1]!);
  h2.tracker.tick(d.t + 120_000_000 + 1_000_000);
  assert.equal(h2.lines.length, 2, 'idle longer than 120 s: the last chunk is written');
  assert.equal(h2.lines[1]!.rec.chunk_id, 2);
  assert.deepEqual(h2.lines[1]!.rec.packets, series(d.segs.slice(3), fromServer));
  h2.tracker.finish();
  assert.equal(h2.lines.length, 2, 'the connection is gone');
});

test('UDP: the client by service port, the local end by address, null TCP fields', () => {
  const dns: Ep = { ip: '10.0.0.53', port: 53 }, me: Ep = { ip: '10.0.0.9', port: 5353 };
  const mk = (from: Ep, to: Ep, len: number, t: number): TransportSegment => ({
    tsUs: t, ifindex: 3, ifname: 'eth0', netns: 4026531840, family: 4, src: from.ip, dst: to.ip, sport: from.port,
    dport: to.port, proto: 17, seq: 0, ack: 0, flags: 0, window: 0, payload: Buffer.alloc(len), payloadLen: len,
  });
  // the server answers first in the capture: the port, not the first sender, decides
  const segs = [mk(dns, me, 120, 1_000_000_000_000_001), mk(me, dns, 40, 1_000_000_000_000_002), mk(dns, me, 80, 1_000_000_000_000_003)];
  const { tracker, lines } = harness({ servicePorts: new Set([53]), localAddrs: new Set([me.ip]) });
  for (const s of segs) tracker.onSegment(s);
  assert.equal(lines.length, 0);
  tracker.finish();
  assert.equal(lines.length, 1);
  const r = lines[0]!.rec;
  assert.deepEqual(r, {
    record: 'l4', ts: '2001-09-09T01:46:40.000001Z', l4_proto: 'udp',
    client_ip: me.ip, client_port: me.port, server_ip: dns.ip, server_port: 53,
    src_ip: me.ip, src_port: me.port, dst_ip: dns.ip, dst_port: 53, direction: 'outgoing', conn_side: 'client',
    ifname: 'eth0', ifindex: 3, netns: 4026531840, netns_name: null, container_id: null, pod_uid: null, chunk_id: 1, chunk_syn: false, chunk_fin: false,
    packets: series(segs, (s) => s.src === me.ip),
    tx_packets: 1, rx_packets: 2, tx_bytes: 40, rx_bytes: 200, tx_retrans: 0, rx_retrans: 0,
    tx_seq_min: null, tx_seq_max: null, rx_seq_min: null, rx_seq_max: null,
    tcp_rtt_us: null, tcp_3whs_us: null, tcp_4whs_us: null, conn_trace_id: null, inner_trace_id: r.inner_trace_id,
  });
  assert.deepEqual(rawNs(lines[0]!.raw), ['1000000000000001000', '1000000000000002000', '1000000000000003000']);
});

test('the capture\'s direction decides tx/rx and the local end; netns and ifindex separate devices', () => {
  const c = new Conv(CLIENT, SERVER).handshake().c('abc').s('de').rst(0);
  // the same packets seen on two devices: as received on ifindex 1 (server host), as sent on ifindex 2
  const onServer = c.segs.map((s) => ({ ...s, direction: fromServer(s) ? 'out' as const : 'in' as const }));
  const onClient = c.segs.map((s) => ({ ...s, ifindex: 2, direction: fromServer(s) ? 'in' as const : 'out' as const }));
  const { tracker, lines } = harness({ localAddrs: new Set() });
  for (let i = 0; i < c.segs.length; i++) {
    tracker.onSegment(onServer[i]!);
    tracker.onSegment(onClient[i]!);
  }
  assert.equal(lines.length, 2);
  const byIf = new Map(lines.map((l) => [l.rec.ifindex, l.rec]));
  const s = byIf.get(1)!, k = byIf.get(2)!;
  assert.deepEqual([s.src_ip, s.conn_side, s.direction], [SERVER.ip, 'server', 'incoming']);
  assert.deepEqual([k.src_ip, k.conn_side, k.direction], [CLIENT.ip, 'client', 'outgoing']);
  assert.deepEqual(s.packets, series(c.segs, fromServer));
  assert.deepEqual(k.packets, series(c.segs, (x) => !fromServer(x)));
  assert.equal(s.conn_trace_id, k.conn_trace_id);
  assert.notEqual(s.inner_trace_id, k.inner_trace_id);
});

test('mid-stream, no service port, no local address: the first sender is client and local, roles unknown', () => {
  const c = new Conv(CLIENT, SERVER).handshake().s('late response').c('more');
  const segs = c.segs.slice(3); // the capture starts after the handshake, with the server's data
  const { tracker, lines } = harness({ localAddrs: new Set() });
  for (const s of segs) tracker.onSegment(s);
  tracker.finish();
  const r = lines[0]!.rec;
  assert.deepEqual([r.client_ip, r.client_port, r.server_ip, r.server_port], [SERVER.ip, SERVER.port, CLIENT.ip, CLIENT.port]);
  assert.deepEqual([r.src_ip, r.dst_ip, r.direction, r.conn_side], [SERVER.ip, CLIENT.ip, 'unknown', 'unknown']);
  assert.deepEqual([r.tcp_rtt_us, r.tcp_3whs_us, r.conn_trace_id, r.chunk_syn], [null, null, null, false]);
  assert.deepEqual(r.packets, series(segs, fromServer));
});

test('retransmissions: only ranges wholly seen before, per direction; a hole filled late is not one', () => {
  const c = new Conv(CLIENT, SERVER).handshake();
  c.c('aaaa'); const a = c.segs.length - 1;
  c.lose(0, 'bbbb'); // not captured
  c.c('cccc');
  c.seq[0] -= 8; c.c('bbbb'); c.seq[0] += 4; // the lost one, sent late: fills a hole, not seen before
  again(c, c.segs[a]!); // 'aaaa' again: a retransmission
  c.s('zz'); again(c, c.segs[c.segs.length - 1]!); again(c, c.segs[1]!); // the response twice, the SYN-ACK again
  const { tracker, lines } = harness();
  for (const s of c.segs) tracker.onSegment(s);
  tracker.finish();
  const r = lines[0]!.rec;
  assert.equal(r.rx_retrans, 1, 'client → server');
  assert.equal(r.tx_retrans, 2, 'server → client: the response and the SYN-ACK');
  assert.equal(r.tcp_rtt_us, 1000, 'the first SYN-ACK times the handshake');
});

test('--l4: a flag, WIRELOG_L4, `l4 = true` in the config file; refused without --format jsonl', (t) => {
  const settings = (argv: string[], env: NodeJS.ProcessEnv = {}, file = ''): CaptureSettings =>
    (resolveCapture(argv, env, { defaultConfigFile: file }) as { settings: CaptureSettings }).settings;
  assert.equal(settings(['-r', 'x.pcap', '--format', 'jsonl']).l4, false);
  assert.equal(settings(['-r', 'x.pcap', '--format', 'jsonl', '--l4']).l4, true);
  assert.equal(settings(['-r', 'x.pcap', '--format', 'jsonl'], { WIRELOG_L4: '1' }).l4, true);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wirelog-l4-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'wirelog.conf');
  fs.writeFileSync(file, 'format = jsonl\nl4 = true\n');
  assert.equal(settings(['-r', 'x.pcap'], {}, file).l4, true);
  assert.equal(settings(['-r', 'x.pcap', '--no-l4'], {}, file).l4, false);
  assert.throws(() => settings(['-r', 'x.pcap', '--l4']), (e: unknown) => e instanceof UsageError && /--l4.*--format jsonl/.test(e.message));
  fs.writeFileSync(file, 'l4 = true\n');
  assert.throws(() => settings(['-r', 'x.pcap'], {}, file), (e: unknown) => e instanceof UsageError && e.message.includes(`${file}:1`));
});

test('docs/schema.md "L4 records" documents exactly the fields written, in order', () => {
  const all = fs.readFileSync(path.join(repoRoot, 'docs', 'schema.md'), 'utf8');
  const from = all.indexOf('\n## L4 records\n');
  const to = all.indexOf('\n## ', from + 1);
  assert.ok(from > 0 && to > from);
  const documented = [...all.slice(from, to).matchAll(/^\|\s*`([a-z_0-9]+)`\s*\|/gm)].map((m) => m[1]);
  assert.deepEqual(documented, [...L4_RECORD_FIELDS]);
  // the example parses and has the fields in order
  const example = /```json\n(.*)\n```/.exec(all.slice(from, to));
  assert.ok(example);
  assert.deepEqual(Object.keys(JSON.parse(example[1]!) as object), [...L4_RECORD_FIELDS]);
});

test('summary line: `, N L4 records` only when L4 records were asked for', () => {
  const r: PipelineResult = {
    packets: 5, requests: 1, responses: 1, transactions: 1, kernelDrops: 0, gaps: 0, gapBytes: 0, notHttp: 0,
    messagesSkipped: 0, bytesSkipped: 0, parseErrors: {}, stoppedBy: 'end',
  };
  assert.ok(!summaryLine(r).includes('L4'));
  assert.match(summaryLine({ ...r, l4Records: 3 }), /, 0 parse errors, 3 L4 records$/);
  assert.match(summaryLine({ ...r, parseErrors: { X: 1 }, l4Records: 0 }), /parse errors \(X=1\), 0 L4 records$/);
});
