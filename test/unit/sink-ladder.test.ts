/**
 * The packet ladder (`--format ladder`): L4 chunks written by LadderSink, from hand-built L4Chunk objects (the
 * docs/schema.md example) and from chunks the real L4 tracker makes of Conv conversations, with the HTTP tracker
 * feeding the same sink (request markers under the packet that carries the request's first byte).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Conv, type Ep } from '../helpers/tcp-conv.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, type L4Chunk, type LineKind, type TransportSegment } from '../../src/records.js';
import { L4Tracker } from '../../src/correlate/l4.js';
import { HttpTracker } from '../../src/correlate/http-tracker.js';
import { LadderSink, deltaMsText, endpointText } from '../../src/sinks/ladder.js';
import { resolveCapture } from '../../src/cli/config.js';

interface Out { line: string; ts: number; kind: LineKind }

function sink(): { ladder: LadderSink; out: Out[] } {
  const out: Out[] = [];
  return { ladder: new LadderSink({ write: (line, ts, kind) => out.push({ line, ts, kind }) }), out };
}

/** The docs/schema.md example record, as the tracker would hand it over. */
function exampleChunk(): L4Chunk {
  const t0 = 1795428000100000;
  const p = (dt: number, tx: boolean, flags: number, seq: number, ack: number, len: number, win: number) =>
    ({ tsUs: t0 + dt, nsRem: 0, tx, flags, seq, ack, len, win });
  return {
    proto: 'tcp', clientIp: '10.0.0.5', clientPort: 41000, serverIp: '10.0.0.1', serverPort: 8080,
    srcIp: '10.0.0.1', srcPort: 8080, dstIp: '10.0.0.5', dstPort: 41000, connSide: 'server',
    ifname: 'eth0', ifindex: 2, netns: 4026531840, chunkId: 1, chunkSyn: true, chunkFin: true,
    packets: [
      p(0, false, TCP_SYN, 1000, 0, 0, 64240),
      p(50, true, TCP_SYN | TCP_ACK, 5000, 1001, 0, 65160),
      p(300, false, TCP_ACK, 1001, 5001, 0, 502),
      p(400, false, TCP_PSH | TCP_ACK, 1001, 5001, 20, 502),
      p(500, true, TCP_PSH | TCP_ACK, 5001, 1021, 40, 509),
      p(600, false, TCP_FIN | TCP_ACK, 1021, 5041, 0, 502),
      p(700, true, TCP_FIN | TCP_ACK, 5041, 1022, 0, 509),
      p(1_234_900, false, TCP_ACK, 1022, 5042, 0, 502),
    ],
    txPackets: 3, rxPackets: 5, txBytes: 40, rxBytes: 20, txRetrans: 0, rxRetrans: 0,
    txSeqMin: 5000, txSeqMax: 5041, rxSeqMin: 1000, rxSeqMax: 1022, rttUs: 50, handshakeUs: 300, closeUs: 300,
    connTraceId: '1000_5000', innerTraceId: '5f0c2b8e9d1a4c3b8e7f6a5b4c3d2e1f',
  };
}

test('delta and endpoint text', () => {
  assert.equal(deltaMsText(0), '+0.000');
  assert.equal(deltaMsText(50), '+0.050');
  assert.equal(deltaMsText(1_234_567), '+1234.567');
  assert.equal(deltaMsText(-1500), '-1.500');
  assert.equal(endpointText('10.0.0.1', 80), '10.0.0.1:80');
  assert.equal(endpointText('::1', 8080), '[::1]:8080');
});

test('a hand-built chunk: header, one line per packet, arrows by client/server', () => {
  const { ladder, out } = sink();
  const c = exampleChunk();
  ladder.l4(c);
  assert.deepEqual(out.map((o) => o.line), [
    '# 2026-11-23T10:00:00.100000Z tcp 10.0.0.5:41000 → 10.0.0.1:8080 ifname=eth0 netns=4026531840 conn_trace_id=1000_5000 chunk_id=1 packets=8',
    '    +0.000 eth0 10.0.0.5:41000 → 10.0.0.1:8080 S seq=1000 ack=0 len=0 win=64240',
    '    +0.050 eth0 10.0.0.5:41000 ← 10.0.0.1:8080 S. seq=5000 ack=1001 len=0 win=65160',
    '    +0.250 eth0 10.0.0.5:41000 → 10.0.0.1:8080 . seq=1001 ack=5001 len=0 win=502',
    '    +0.100 eth0 10.0.0.5:41000 → 10.0.0.1:8080 P. seq=1001 ack=5001 len=20 win=502',
    '    +0.100 eth0 10.0.0.5:41000 ← 10.0.0.1:8080 P. seq=5001 ack=1021 len=40 win=509',
    '    +0.100 eth0 10.0.0.5:41000 → 10.0.0.1:8080 F. seq=1021 ack=5041 len=0 win=502',
    '    +0.100 eth0 10.0.0.5:41000 ← 10.0.0.1:8080 F. seq=5041 ack=1022 len=0 win=509',
    ' +1234.200 eth0 10.0.0.5:41000 → 10.0.0.1:8080 . seq=1022 ack=5042 len=0 win=502',
  ]);
  assert.deepEqual(out.map((o) => o.ts), [c.packets[0]!.tsUs, ...c.packets.map((p) => p.tsUs)], 'each line at its packet time');
  assert.ok(out.every((o) => o.kind === 'CQ'), 'this host is the server: CQ files');
});

test('a chunk of a named namespace: the header gives the name after the inode', () => {
  const { ladder, out } = sink();
  ladder.l4({ ...exampleChunk(), place: { netnsName: 'web', containerId: null, podUid: null } });
  assert.equal(out[0]!.line, '# 2026-11-23T10:00:00.100000Z tcp 10.0.0.5:41000 → 10.0.0.1:8080 ifname=eth0 netns=4026531840(web) conn_trace_id=1000_5000 chunk_id=1 packets=8');
});

test('the local end as client, unknown sides, no ifname/netns/trace id, UDP', () => {
  const { ladder, out } = sink();
  const c = exampleChunk();
  // the same packets seen from the client's device: tx flips, the arrows do not
  ladder.l4({
    ...c, srcIp: c.clientIp, srcPort: c.clientPort, dstIp: c.serverIp, dstPort: c.serverPort, connSide: 'client',
    packets: c.packets.map((p) => ({ ...p, tx: !p.tx })), ifname: undefined, netns: undefined, connTraceId: null,
  });
  assert.equal(out[0]!.line, '# 2026-11-23T10:00:00.100000Z tcp 10.0.0.5:41000 → 10.0.0.1:8080 ifname=- netns=- conn_trace_id=- chunk_id=1 packets=8');
  assert.deepEqual(out.slice(1, 3).map((o) => o.line), [
    '    +0.000 - 10.0.0.5:41000 → 10.0.0.1:8080 S seq=1000 ack=0 len=0 win=64240',
    '    +0.050 - 10.0.0.5:41000 ← 10.0.0.1:8080 S. seq=5000 ack=1001 len=0 win=65160',
  ]);
  assert.ok(out.every((o) => o.kind === 'SQ'));
  out.length = 0;
  const t0 = 1_700_000_000_000_000;
  ladder.l4({
    ...c, proto: 'udp', clientIp: 'fd00::5', clientPort: 5353, serverIp: 'fd00::1', serverPort: 53,
    srcIp: 'fd00::5', srcPort: 5353, dstIp: 'fd00::1', dstPort: 53, connSide: 'unknown', ifname: 'lo', connTraceId: null,
    packets: [
      { tsUs: t0, nsRem: 0, tx: true, flags: -1, seq: 0, ack: 0, len: 40, win: -1 },
      { tsUs: t0 + 2001, nsRem: 0, tx: false, flags: -1, seq: 0, ack: 0, len: 120, win: -1 },
    ],
  });
  assert.deepEqual(out.map((o) => o.line), [
    '# 2023-11-14T22:13:20.000000Z udp [fd00::5]:5353 → [fd00::1]:53 ifname=lo netns=4026531840 conn_trace_id=- chunk_id=1 packets=2',
    '    +0.000 lo [fd00::5]:5353 → [fd00::1]:53 udp len=40',
    '    +2.001 lo [fd00::5]:5353 ← [fd00::1]:53 udp len=120',
  ]);
});

const CLIENT: Ep = { ip: '10.0.0.5', port: 41000 };
const SERVER: Ep = { ip: '10.0.0.1', port: 80 };

/** The capture pipeline's wiring: each segment to the HTTP tracker, then to the L4 tracker, one ladder sink. */
function run(segs: TransportSegment[], maxPackets?: number): Out[] {
  const { ladder, out } = sink();
  const http = new HttpTracker({ reassembly: true, servicePorts: new Set([80]), localAddrs: new Set([SERVER.ip]) }, ladder);
  const l4 = new L4Tracker({ servicePorts: new Set([80]), localAddrs: new Set([SERVER.ip]), maxPackets }, ladder);
  for (const s of segs) {
    http.onSegment(s);
    l4.onSegment(s);
  }
  http.finish();
  l4.finish();
  return out;
}

test('HTTP markers under the packet that carries the request\'s first byte, with the status', () => {
  const c = new Conv(CLIENT, SERVER, [7000, 90000]).handshake();
  // request 1 in two segments: the marker goes under the first
  c.c('GET /one HTTP/1.1\r\nHost: x\r\n\r\n', 1448, [10]);
  c.s('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  // request 2 and 3 pipelined in one segment: two markers under it
  c.c('GET /two HTTP/1.1\r\nHost: x\r\n\r\nPOST /three HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
  c.s('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n');
  c.close();
  const out = run(c.segs).map((o) => o.line);
  assert.equal(out.length, 1 + c.segs.length + 3, 'a header, a line per packet, three markers');
  const lines = out.slice(1);
  const idx = (seg: TransportSegment): number => lines.findIndex((l) => l.includes(` seq=${seg.seq >>> 0} `) && l.includes(`len=${seg.payloadLen} `));
  const first = idx(c.segs[3]!);
  assert.equal(lines[first + 1], '             ↳ GET /one → 200');
  assert.match(lines[first + 2]!, /→ 10\.0\.0\.1:80 P\. seq=7011 /, 'the second part of the request: no marker');
  const pipelined = idx(c.segs[6]!);
  assert.deepEqual(lines.slice(pipelined + 1, pipelined + 3), ['             ↳ GET /two → 404', '             ↳ POST /three → 201']);
  assert.equal(lines.filter((l) => l.includes('↳')).length, 3);
});

test('a response in a later chunk: the marker says ?; markers are forgotten after the connection ends', () => {
  const c = new Conv(CLIENT, SERVER, [7000, 90000]).handshake();
  c.c('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n').s('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n').close();
  const out = run(c.segs, 4);
  // chunk 1: SYN, SYN-ACK, ACK, request; chunk 2: the rest
  const lines = out.map((o) => o.line);
  assert.match(lines[0]!, /chunk_id=1 packets=4$/);
  assert.equal(lines[5], '             ↳ GET /slow → ?');
  assert.match(lines[6]!, /chunk_id=2 /);

  // the sink drops a connection's markers some seconds (capture time) after its last chunk
  const { ladder } = sink();
  const http = new HttpTracker({ reassembly: true, servicePorts: new Set([80]), localAddrs: new Set([SERVER.ip]) }, ladder);
  const l4 = new L4Tracker({ servicePorts: new Set([80]), localAddrs: new Set([SERVER.ip]) }, ladder);
  const a = new Conv(CLIENT, SERVER).handshake().c('GET / HTTP/1.1\r\nHost: x\r\n\r\n').s('HTTP/1.1 204 No Content\r\n\r\n').close();
  const last = a.segs[a.segs.length - 1]!;
  // the client acknowledges the server's FIN: the connection is over, its last chunk written
  a.segs.push({ ...last, tsUs: (a.t += 1000), src: CLIENT.ip, sport: CLIENT.port, dst: SERVER.ip, dport: SERVER.port,
    seq: a.seq[0], ack: a.seq[1], flags: TCP_ACK });
  const b = new Conv({ ip: CLIENT.ip, port: 41001 }, SERVER, [1, 2], a.t + 10_000_000).handshake().close();
  const feed = (segs: TransportSegment[]): void => {
    for (const s of segs) {
      http.onSegment(s);
      l4.onSegment(s);
    }
  };
  feed(a.segs);
  assert.equal(ladder.pendingMarkers, 1, 'kept a while for the other devices of the connection');
  feed(b.segs.slice(0, 1)); // b's first chunk comes 10 s later ... written when b ends
  feed(b.segs.slice(1));
  l4.finish();
  assert.equal(ladder.pendingMarkers, 0);

  // a connection that never ends (no FIN/RST seen): dropped after 240 s of capture time without activity
  const idle = sink();
  const http2 = new HttpTracker({ reassembly: true, servicePorts: new Set([80]), localAddrs: new Set([SERVER.ip]) }, idle.ladder);
  const l42 = new L4Tracker({ servicePorts: new Set([80]), localAddrs: new Set([SERVER.ip]), maxPackets: 4 }, idle.ladder);
  const open = new Conv(CLIENT, SERVER).handshake().c('GET /forever HTTP/1.1\r\nHost: x\r\n\r\n');
  const later = new Conv({ ip: CLIENT.ip, port: 41002 }, SERVER, [1, 2], open.t + 241_000_000).handshake().c('x');
  for (const s of [...open.segs, ...later.segs]) {
    http2.onSegment(s);
    l42.onSegment(s);
  }
  assert.equal(idle.out.filter((o) => o.line.includes('↳ GET /forever → ?')).length, 1);
  assert.equal(idle.ladder.pendingMarkers, 0);
});

test('--format ladder is accepted and implies the L4 tracker; --l4 with text is still refused', () => {
  const cmd = resolveCapture(['-r', 'x.pcap', '--format', 'ladder'], {}, { defaultConfigFile: '' });
  assert.equal(cmd.action, 'run');
  if (cmd.action === 'run') {
    assert.equal(cmd.settings.format, 'ladder');
    assert.equal(cmd.settings.l4, true);
  }
  const env = resolveCapture(['-r', 'x.pcap'], { WIRELOG_FORMAT: 'ladder' }, { defaultConfigFile: '' });
  assert.ok(env.action === 'run' && env.settings.l4);
  assert.throws(() => resolveCapture(['--l4'], {}, { defaultConfigFile: '' }), /--l4 needs --format jsonl/);
  assert.throws(() => resolveCapture(['--format', 'xml'], {}, { defaultConfigFile: '' }), /want text, jsonl or ladder/);
});
