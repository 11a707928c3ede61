/**
 * Device paths (src/correlate/paths.ts): one connection seen on several devices is one path, parsed on its first
 * device, and each exchange's hops are the devices that carried its first bytes, in path order. The segments are a
 * real conversation (test/helpers/tcp-conv.ts) replayed on each device a few µs apart, with the addresses a DNAT
 * gives on the devices after it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Conv } from '../helpers/tcp-conv.js';
import { DevicePaths, HopSink, hopsOf } from '../../src/correlate/paths.js';
import { HttpTracker } from '../../src/correlate/http-tracker.js';
import type { HttpEventSink, HttpTransaction, TransportSegment } from '../../src/records.js';

interface Device { netns: number; ifindex: number; ifname: string; dnat?: { ip: string; port: number } }

const CLIENT = { ip: '10.1.0.2', port: 40000 };
const VIP = { ip: '10.1.0.1', port: 8080 };
const SERVER = { ip: '10.2.0.2', port: 80 };

/** The conversation as each device sees it; device i sees a segment i µs after device 0 (reversed for replies). */
function onDevices(conv: Conv, devices: Device[]): TransportSegment[] {
  const out: TransportSegment[] = [];
  for (const seg of conv.segs) {
    const fromClient = seg.sport === CLIENT.port;
    devices.forEach((d, i) => {
      const lag = fromClient ? i : devices.length - 1 - i;
      const s: TransportSegment = { ...seg, tsUs: seg.tsUs + lag, netns: d.netns, ifindex: d.ifindex, ifname: d.ifname };
      if (d.dnat && fromClient) { s.dst = d.dnat.ip; s.dport = d.dnat.port; }
      if (d.dnat && !fromClient) { s.src = d.dnat.ip; s.sport = d.dnat.port; }
      out.push(s);
    });
  }
  return out.sort((a, b) => a.tsUs - b.tsUs);
}

const PATH: Device[] = [
  { netns: 100, ifindex: 2, ifname: 'eth0' },
  { netns: 1, ifindex: 7, ifname: 'veth-c' },
  { netns: 1, ifindex: 5, ifname: 'br-c' },
  { netns: 1, ifindex: 6, ifname: 'br-s', dnat: SERVER },
  { netns: 200, ifindex: 2, ifname: 'eth0', dnat: SERVER },
];

function exchange(isn: [number, number] = [1000, 5000], t0?: number): Conv {
  const c = new Conv(CLIENT, VIP, isn, t0);
  c.handshake();
  c.c('GET /a HTTP/1.1\r\nHost: x\r\n\r\n').s('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  c.c('GET /b HTTP/1.1\r\nHost: x\r\n\r\n').s('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
  return c.close();
}

function run(segs: TransportSegment[]): { txs: HttpTransaction[]; paths: DevicePaths; primary: TransportSegment[] } {
  const txs: HttpTransaction[] = [];
  const sink: HttpEventSink = { request() {}, response() {}, transaction: (tx) => txs.push(tx) };
  const paths = new DevicePaths();
  const hops = new HopSink(paths, sink, 1_000_000);
  const http = new HttpTracker({ reassembly: true, servicePorts: new Set([80, 8080]), localAddrs: new Set() }, hops);
  const primary: TransportSegment[] = [];
  for (const s of segs) {
    hops.advance(s.tsUs);
    if (paths.observe(s)) {
      primary.push(s);
      http.onSegment(s);
    }
  }
  http.finish();
  hops.finish();
  return { txs, paths, primary };
}

test('one connection on five devices, through a DNAT: parsed once on the first device, every exchange with its five hops in order', () => {
  const conv = exchange();
  const { txs, paths, primary } = run(onDevices(conv, PATH));
  assert.equal(paths.stats.paths, 1);
  assert.equal(paths.stats.deviceFlows, 5);
  assert.equal(paths.stats.joined, 4);
  assert.ok(primary.every((s) => s.netns === 100 && s.ifindex === 2), 'only the first device reaches the HTTP tracker');
  assert.deepEqual(txs.map((t) => [t.req?.uri, t.res?.status]), [['/a', 200], ['/b', 404]]);
  for (const tx of txs) {
    const hops = tx.hops!;
    assert.deepEqual(hops.map((h) => [h.netns, h.ifindex, h.ifname]), PATH.map((d) => [d.netns, d.ifindex, d.ifname]));
    const reqSeg = conv.segs.find((s) => s.seq === tx.req!.seq && s.sport === CLIENT.port && s.payloadLen > 0)!;
    const resSeg = conv.segs.find((s) => s.seq === tx.res!.seq && s.sport === VIP.port && s.payloadLen > 0)!;
    hops.forEach((h, i) => {
      assert.equal(h.reqTsUs, reqSeg.tsUs + i, `request time on hop ${i}`);
      assert.equal(h.respTsUs, resSeg.tsUs + (PATH.length - 1 - i), `response time on hop ${i}`);
    });
  }
});

test('the same ISN again on a device the path crossed is the next connection; a stale path is not joined', () => {
  const a = exchange([7, 9000], 1_700_000_000_000_000);
  const b = exchange([7, 9100], 1_700_000_000_100_000); // same client ISN 100 ms later, same devices
  const c = exchange([7, 9200], 1_700_000_100_000_000); // and 100 s later
  const segs = [...onDevices(a, PATH.slice(0, 2)), ...onDevices(b, PATH.slice(0, 2)), ...onDevices(c, PATH.slice(0, 2))];
  const { txs, paths } = run(segs);
  assert.equal(paths.stats.paths, 3);
  assert.equal(txs.length, 6, 'each connection logged once');
  for (const tx of txs) assert.equal(tx.hops!.length, 2);
});

test('a bridge that sees the request after the DNAT and the reply before it: two flows on one device, one hop', () => {
  const conv = exchange();
  const segs = onDevices(conv, PATH.slice(0, 3));
  // br_netfilter: the client bridge (index 2) sees client packets already translated
  for (const s of segs) if (s.ifname === 'br-c' && s.sport === CLIENT.port) { s.dst = SERVER.ip; s.dport = SERVER.port; }
  const { txs, paths } = run(segs);
  assert.equal(paths.stats.deviceFlows, 4);
  assert.equal(paths.stats.paths, 1);
  for (const tx of txs) {
    assert.deepEqual(tx.hops!.map((h) => h.ifname), ['eth0', 'veth-c', 'br-c']);
    assert.ok(tx.hops!.every((h) => h.reqTsUs !== null && h.respTsUs !== null), 'request and response times on every hop');
  }
});

test('a retransmitted request: the hop time is its first passage; a device that lost it has no request time', () => {
  const conv = exchange();
  const segs = onDevices(conv, PATH.slice(0, 3));
  const req = segs.find((s) => s.ifname === 'veth-c' && s.payloadLen > 0)!;
  segs.push({ ...req, tsUs: req.tsUs + 200_000 }); // the retransmission, later
  const lost = segs.findIndex((s) => s.ifname === 'br-c' && s.payloadLen > 0 && s.sport === CLIENT.port);
  const lostSeq = segs[lost]!.seq;
  segs.splice(lost, 1);
  segs.sort((a, b) => a.tsUs - b.tsUs);
  const { txs } = run(segs);
  const first = txs.find((t) => t.req?.seq === lostSeq)!;
  const hop = (n: string) => first.hops!.find((h) => h.ifname === n)!;
  assert.equal(hop('veth-c').reqTsUs, req.tsUs);
  assert.equal(hop('br-c').reqTsUs, null);
  assert.notEqual(hop('br-c').respTsUs, null);
  // hopsOf directly: an unknown seq has no hops
  const p = new DevicePaths();
  for (const s of onDevices(exchange(), PATH.slice(0, 2))) p.observe(s);
  const path = p.pathOf(100, CLIENT.ip, CLIENT.port, VIP.ip, VIP.port)!;
  assert.deepEqual(hopsOf(path, 123, 456), []);
});

test('a connection seen without its handshake joins by its 5-tuple across namespaces', () => {
  const conv = exchange();
  const segs = onDevices(conv, PATH.slice(0, 3)).filter((s) => s.payloadLen > 0);
  const { txs, paths } = run(segs);
  assert.equal(paths.stats.paths, 1);
  assert.equal(txs.length, 2);
  for (const tx of txs) assert.deepEqual(tx.hops!.map((h) => h.ifname), ['eth0', 'veth-c', 'br-c']);
});

test('soleDeviceFastPath: one device tracks nothing and gives each exchange its own one hop; a second device turns tracking on', () => {
  const conv = exchange();
  const txs: HttpTransaction[] = [];
  const sink: HttpEventSink = { request() {}, response() {}, transaction: (tx) => txs.push(tx) };
  const paths = new DevicePaths({ soleDeviceFastPath: true });
  const hops = new HopSink(paths, sink, 1_000_000);
  const http = new HttpTracker({ reassembly: true, servicePorts: new Set([80, 8080]), localAddrs: new Set() }, hops);
  const feed = (segs: TransportSegment[]): void => {
    for (const s of segs) {
      hops.advance(s.tsUs);
      if (paths.observe(s)) http.onSegment(s);
    }
  };
  feed(onDevices(conv, PATH.slice(0, 1)));
  assert.equal(paths.stats.deviceFlows, 0, 'nothing tracked on one device');
  assert.deepEqual(paths.soleDevice, { ifindex: 2, netns: 100 });
  http.finish();
  hops.finish();
  assert.equal(txs.length, 2);
  for (const tx of txs) {
    assert.deepEqual(tx.hops, [{ ifindex: 2, netns: 100, ifname: 'eth0', reqTsUs: tx.req!.tsUs, respTsUs: tx.res!.tsUs }]);
    const reqSeg = conv.segs.find((s) => s.seq === tx.req!.seq && s.sport === CLIENT.port && s.payloadLen > 0)!;
    assert.equal(tx.req!.tsUs, reqSeg.tsUs, 'the request head time is its first byte\'s');
  }
  // a later connection on two devices: tracked from then on
  feed(onDevices(exchange([5000, 6000], conv.t + 1000), PATH.slice(0, 2)));
  assert.equal(paths.soleDevice, undefined);
  assert.ok(paths.stats.deviceFlows >= 2);
});
