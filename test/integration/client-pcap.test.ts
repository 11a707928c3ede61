/**
 * The traced client's packet capture (startPacketCapture) on loopback: plain Node sockets to local servers, only
 * some of the connections given as traced, unrelated traffic beside them; the written pcap is read by tshark and
 * compared with a tcpdump capture of the same traffic (packet for packet: lengths and raw sequence numbers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import dgram from 'node:dgram';
import path from 'node:path';
import { readFile, writeFile, chmod } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { requirePrivileges } from '../helpers/privileged.js';
import { Scope, runOk, waitFor } from '../helpers/proc.js';
import { sensorPath } from '../helpers/paths.js';
import { startTcpdump, linkType } from '../helpers/tshark.js';
import { startPacketCapture, type CaptureOptions, type CaptureSession } from '../../src/client/packet-capture.js';
import type { AddrTuple } from '../../src/client/trace.js';

type Traced = { proto: 'tcp' | 'udp'; tuple: AddrTuple };

/** tshark rows: one per frame */
async function frames(file: string, filter: string): Promise<string[][]> {
  const r = await runOk('tshark', ['-r', file, '-n', '-Y', filter, '-T', 'fields', '-E', 'separator=/t',
    '-e', 'frame.len', '-e', 'frame.cap_len', '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'tcp.seq_raw',
    '-e', 'tcp.len', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'icmp.type', '-e', 'frame.protocols'], { timeoutMs: 60_000 });
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
}

/** frame identity for comparing two captures: wire length, ports, raw seq, payload length */
const ident = (f: string[]): string => [f[0], f[2], f[3], f[4], f[5], f[6], f[7]].join(' ');

function tcpServer(scope: Scope, bytes: number): Promise<net.Server> {
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    let got = 0;
    s.on('data', (d) => {
      got += d.length;
      if (got >= 1000) { s.end(Buffer.alloc(bytes, 0x61)); got = -Infinity; }
    });
  });
  scope.defer('close server', () => new Promise<void>((r) => srv.close(() => r())));
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

/** a request of 1000 bytes, the whole response read, then closed */
function exchange(port: number): Promise<Traced> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let t: Traced | undefined;
    s.on('connect', () => {
      t = { proto: 'tcp', tuple: { srcIP: s.localAddress!, srcPort: s.localPort!, dstIP: '127.0.0.1', dstPort: port } };
      s.write(Buffer.alloc(1000, 0x62));
    });
    s.on('data', () => {});
    s.on('end', () => s.end());
    s.on('error', reject);
    s.on('close', () => (t ? resolve(t) : reject(new Error('not connected'))));
  });
}

const baseOpts = (o: Partial<CaptureOptions>): CaptureOptions => ({
  interfaces: ['lo'], snaplen: 1518, totalSizeLimit: 64 << 20, includeICMP: false, includeARP: false,
  tcpWithoutPayload: false, sensorPath, ...o,
});

test('client pcap on lo: only the traced flows, every packet of them as tcpdump sees it; snaplen, ICMP, limit, no-payload', async (t) => {
  if (!requirePrivileges(t)) return;
  const scope = new Scope();
  t.after(() => scope.close());
  const dir = await scope.tempDir();
  const traced: Traced[] = [];
  const tracedFn = (): Traced[] => traced.slice();

  const big = await tcpServer(scope, 300_000); // lo sends it in 64 KiB super-frames: larger than the snaplen
  const other = await tcpServer(scope, 5000);
  const bigPort = (big.address() as net.AddressInfo).port;
  const otherPort = (other.address() as net.AddressInfo).port;
  const udpSrv = dgram.createSocket('udp4');
  udpSrv.on('message', (m, r) => udpSrv.send(m, r.port, r.address));
  await new Promise<void>((r) => udpSrv.bind(0, '127.0.0.1', () => r()));
  scope.defer('close udp', () => { udpSrv.close(); });
  const udpPort = udpSrv.address().port;
  // a free port for ICMP port unreachable: bound, its number taken, closed
  const closedPort = await new Promise<number>((resolve) => {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });

  const ref = await startTcpdump(scope, {
    iface: 'lo', file: path.join(dir, 'ref.pcap'),
    filter: `tcp port ${bigPort} or tcp port ${otherPort} or udp port ${udpPort} or icmp`,
  });
  const sessions: CaptureSession[] = [];
  t.after(async () => { for (const s of sessions) await s.stop(); });
  const start = (o: Partial<CaptureOptions>): CaptureSession => {
    const s = startPacketCapture(baseOpts(o), tracedFn);
    sessions.push(s);
    return s;
  };
  const main = start({ includeICMP: true });
  const limited = start({ totalSizeLimit: 3000 });
  const noPayload = start({ tcpWithoutPayload: true });
  const tiny = start({ snaplen: 60 });
  await Promise.all(sessions.map((s) => s.ready));

  // traced: recorded only after the whole exchange (a dialer records it after the SYN at best): every packet of
  // it must be held and matched later
  const a = await exchange(bigPort);
  traced.push(a);
  const b = await exchange(bigPort); // same server, not traced
  await exchange(otherPort); // other port, not traced
  const u = dgram.createSocket('udp4');
  await new Promise<void>((r) => u.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => u.connect(udpPort, '127.0.0.1', () => r()));
  traced.push({ proto: 'udp', tuple: { srcIP: '127.0.0.1', srcPort: u.address().port, dstIP: '127.0.0.1', dstPort: udpPort } });
  const echoed = new Promise<void>((r) => u.once('message', () => r()));
  u.send(Buffer.from('traced datagram'));
  await echoed;
  u.close();
  const icmpFrom = dgram.createSocket('udp4');
  icmpFrom.on('error', () => {}); // ECONNREFUSED may come back to a connected socket
  await new Promise<void>((r) => icmpFrom.send(Buffer.from('nobody here'), closedPort, '127.0.0.1', () => r()));
  icmpFrom.close(); // an open socket would keep the test file's process alive

  await ref.stop();
  const refFile = ref.file;
  const aFilter = `tcp.port == ${a.tuple.srcPort} && tcp.port == ${bigPort}`;
  const refA = await frames(refFile, aFilter);
  const refUdp = await frames(refFile, `udp.port == ${udpPort}`);
  assert.ok(refA.length >= 10, `reference: ${refA.length} packets of the traced connection`);
  assert.equal(refUdp.length, 2, 'reference: request and echo');

  // everything of the traced flows has arrived (the sensor hands packets over every 10 ms)
  const expected = refA.length + refUdp.length;
  await waitFor('the traced packets', () => {
    const n = main.snapshot()[0]!.packets.length;
    return n >= expected + 1 ? n : undefined;
  }, 15_000);
  const [cap] = main.snapshot();
  assert.equal(cap!.interfaceName, 'lo');
  assert.equal(cap!.snapLen, 1518);
  assert.equal(cap!.truncated, false);
  assert.equal(cap!.withTCPPayload, true);
  assert.equal(cap!.dropped, 0);

  const file = path.join(dir, 'main.pcap');
  await cap!.writeToFile(file);
  assert.equal(await linkType(file), 'EN10MB');
  // writeTo gives the same bytes
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (c: Buffer) => chunks.push(c));
  await cap!.writeTo(sink);
  assert.deepEqual(Buffer.concat(chunks), await readFile(file));

  const all = await frames(file, 'frame');
  const oursA = await frames(file, aFilter);
  const oursUdp = await frames(file, `udp.port == ${udpPort}`);
  const oursIcmp = await frames(file, `icmp.type == 3 && udp.dstport == ${closedPort}`);
  // the traced connection: exactly tcpdump's packets (wire length, seq, payload length)
  assert.deepEqual(oursA.map(ident).sort(), refA.map(ident).sort(), 'traced TCP packets = tcpdump\'s');
  assert.deepEqual(oursUdp.map(ident).sort(), refUdp.map(ident).sort(), 'traced UDP packets = tcpdump\'s');
  assert.equal(oursIcmp.length, 1, 'the port unreachable');
  // nothing else but ICMP: not the untraced connection to the same server, not the other port
  const rest = all.length - oursA.length - oursUdp.length;
  const icmpAll = await frames(file, 'icmp');
  assert.equal(rest, icmpAll.length, 'only traced flows and ICMP');
  assert.equal((await frames(file, `tcp.port == ${b.tuple.srcPort} || tcp.port == ${otherPort}`)).length, 0);
  // snaplen: every frame cut at 1518, with its wire length kept; lo's super-frames were longer
  for (const f of all) assert.ok(Number(f[1]) <= 1518 && Number(f[1]) === Math.min(Number(f[0]), 1518), `cap_len ${f[1]} of ${f[0]}`);
  assert.ok(oursA.some((f) => Number(f[0]) > 1518), 'some frames longer than the snaplen');
  // the SYN came before the tuple was known and still made it
  assert.ok((await frames(file, `${aFilter} && tcp.flags.syn == 1 && tcp.flags.ack == 0`)).length === 1, 'SYN kept');

  // totalSizeLimit: kept bytes stay under it, truncated says so
  const [lim] = limited.snapshot();
  assert.equal(lim!.truncated, true);
  assert.ok(lim!.packets.reduce((n, p) => n + p.data.length, 0) <= 3000);
  assert.ok(lim!.packets.length > 0);

  // tcpWithoutPayload: exactly tcpdump's payload-less packets of the traced connection, and the UDP ones
  // each session has its own sensor: wait for its share too
  const refNoPayload = refA.filter((f) => f[5] === '0').length + refUdp.length;
  await waitFor('the payload-less packets', () => noPayload.snapshot()[0]!.packets.length >= refNoPayload, 15_000);
  await waitFor('the tiny-snaplen packets', () => tiny.snapshot()[0]!.packets.length >= expected, 15_000);
  const [np] = noPayload.snapshot();
  assert.equal(np!.withTCPPayload, false);
  const npFile = path.join(dir, 'nopayload.pcap');
  await np!.writeToFile(npFile);
  const npA = await frames(npFile, aFilter);
  assert.deepEqual(npA.map(ident).sort(), refA.filter((f) => f[5] === '0').map(ident).sort(), 'payload-less TCP = tcpdump\'s');
  assert.equal((await frames(npFile, `udp.port == ${udpPort}`)).length, 2);
  assert.ok(npA.length >= 5 && npA.length < refA.length);

  // a snaplen below the headers: frames cut at 60 bytes, still matched to the flow by the sensor's own fields
  const [tc] = tiny.snapshot();
  assert.equal(tc!.packets.length, refA.length + refUdp.length, 'tiny snaplen: same packet count');
  assert.ok(tc!.packets.every((p) => p.data.length <= 60));
});

test('client pcap: without privileges ready rejects with one clear error', async (t) => {
  if (!requirePrivileges(t)) return;
  const scope = new Scope();
  t.after(() => scope.close());
  const dir = await scope.tempDir();
  const wrapper = path.join(dir, 'sensor-nobody.sh');
  await writeFile(wrapper, `#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all ${sensorPath} "$@"\n`);
  await chmod(wrapper, 0o755);
  const s = startPacketCapture(baseOpts({ sensorPath: wrapper }), () => []);
  await assert.rejects(s.ready, (e: Error & { code?: string }) => {
    assert.equal(e.code, 'WL_ERR_PACKET_CAPTURE');
    assert.match(e.message, /^packet capture on lo: permission denied .*CAP_BPF/);
    return true;
  });
  await s.stop();
  const missing = startPacketCapture(baseOpts({ interfaces: ['nosuchif9'] }), () => []);
  await assert.rejects(missing.ready, /packet capture on nosuchif9: no such interface: nosuchif9/);
  await missing.stop();
});
